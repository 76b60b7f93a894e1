// The kiosk's microphone capture: Float32 samples in, PCM16 little-endian mono out, posted
// to the main thread in batches (640 samples = 40 ms at 16 kHz) as transferable ArrayBuffers.
//
// The AudioContext normally runs at 16 kHz already. Should a browser refuse that rate, the
// context runs at its own and this processor downsamples to `targetRate` (linear
// interpolation: fine for speech recognition; the browser's own resampler is better, which
// is why the 16 kHz context comes first).

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const settings = (options && options.processorOptions) || {};
    this.batch = settings.batch || 640;
    this.targetRate = settings.targetRate || 16000;
    this.step = sampleRate / this.targetRate;   // input samples per output sample
    this.position = 0;                          // next output sample's position in the input
    this.previous = 0;                          // the last input sample of the previous block
    this.running = true;
    this.fresh();
    this.port.onmessage = (event) => {
      if (event.data === 'stop') this.running = false;
    };
  }

  fresh() {
    this.buffer = new ArrayBuffer(this.batch * 2);
    this.view = new DataView(this.buffer);
    this.filled = 0;
  }

  push(sample) {
    const s = sample > 1 ? 1 : sample < -1 ? -1 : sample;
    this.view.setInt16(this.filled * 2, s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff), true);
    this.filled += 1;
    if (this.filled === this.batch) {
      this.port.postMessage(this.buffer, [this.buffer]);
      this.fresh();
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    const channel = input && input[0];
    if (!channel || channel.length === 0) return true;   // no microphone connected (yet)
    if (this.step === 1) {
      for (let i = 0; i < channel.length; i += 1) this.push(channel[i]);
      return true;
    }
    // downsampling: positions run over [-1, length - 1), where -1 is the previous block's
    // last sample; one between the last two samples waits for the next block
    while (this.position < channel.length - 1) {
      const index = Math.floor(this.position);
      const fraction = this.position - index;
      const a = index < 0 ? this.previous : channel[index];
      const b = channel[index + 1];
      this.push(a + (b - a) * fraction);
      this.position += this.step;
    }
    this.position -= channel.length;
    this.previous = channel[channel.length - 1];
    return true;
  }
}

registerProcessor('kiosk-capture', CaptureProcessor);
