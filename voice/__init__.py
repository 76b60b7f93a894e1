"""The voice gateway: phone calls and kiosks in, Rasa in the middle, speech out."""
