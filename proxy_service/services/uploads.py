"""Signed authorisations (委托书) uploaded with proxy applications.

A file is accepted by what it contains, never by its name or the type the browser claims:
a PDF (with its end marker), or a JPEG or PNG that Pillow can open, verify and decode in
full. It is stored encrypted (the data key, as the database's personal fields), outside the
web root, in settings.upload_dir (mode 0700), under a random name; it is written to a
temporary file first and renamed, so a half-written file never carries a real name. Stored
files are opened only by a name of exactly that form.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from proxy_service.crypto import decrypt_bytes, encrypt_bytes, reencrypt_bytes
from proxy_service.services.errors import InvalidRequest

CHUNK_BYTES = 64 * 1024
PDF_MAGIC = b"%PDF-"
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_TAIL_BYTES = 1024
# Decoding an image costs memory in proportion to its pixels: a scan or photo of a signed
# page needs far fewer than this.
MAX_IMAGE_PIXELS = 50_000_000
MEDIA_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}
KIND_LABELS = {"pdf": "PDF 文件", "jpg": "JPG 图片", "png": "PNG 图片"}
STORED_NAME = re.compile(r"[0-9a-f]{32}\.(pdf|jpg|png)")
# Files being written (checked, or encrypted) before they get a stored name.
PARTIAL_PREFIX, PARTIAL_SUFFIX = ".upload-", ".part"
# The web server serves these files to anyone; uploads must never land below them.
WEB_ROOT = Path(__file__).resolve().parent.parent / "web" / "static"

WRONG_TYPE = "只能上传 PDF、JPG 或 PNG 格式的文件。"
BROKEN = "文件打不开，可能不完整或已经损坏。请重新扫描或拍照后再上传。只能上传 PDF、JPG 或 PNG 格式的文件。"
EMPTY = "上传的文件是空的，请重新选择文件。"
MISSING = "请上传居民签字的委托书。"


def size_label(max_bytes: int) -> str:
    """The limit in MB as people read it: "5", or "0.2" for a small test limit."""
    megabytes = max_bytes / (1024 * 1024)
    return f"{megabytes:.0f}" if megabytes >= 1 and megabytes == int(megabytes) else f"{megabytes:.1f}"


def too_big_message(max_bytes: int) -> str:
    return f"文件太大了，最大 {size_label(max_bytes)} MB。请换一个小一点的文件，或者把图片拍得小一些。"


def _refuse(zh: str, en: str) -> InvalidRequest:
    return InvalidRequest(zh, en, field="authorisation")


def ensure_dir(upload_dir: Path | str) -> Path:
    """The upload directory, created if needed, readable by this service's user only."""
    directory = Path(upload_dir).resolve()
    if directory == WEB_ROOT or WEB_ROOT in directory.parents:
        raise RuntimeError("UPLOAD_DIR must be outside the web root")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.chmod(directory, 0o700)
    except OSError:  # not ours to change (a mounted volume): its owner set it up
        pass
    return directory


def _spool(stream: BinaryIO, directory: Path, max_bytes: int) -> Path:
    """Copy the upload to a private temporary file in `directory`, stopping once over the limit."""
    if hasattr(stream, "seek"):
        stream.seek(0)
    handle, temp = tempfile.mkstemp(dir=directory, prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX)
    path = Path(temp)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise _refuse(too_big_message(max_bytes), f"file over {max_bytes} bytes.")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise _refuse(EMPTY, "empty file.")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _image_ok(path: Path, expected_format: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format != expected_format or image.width * image.height > MAX_IMAGE_PIXELS:
                    return False
                image.verify()
            # verify() checks the structure (PNG checksums) but not the pixel data, and does
            # little for JPEG: decoding the whole image finds a truncated or corrupt one.
            with Image.open(path) as image:
                image.load()
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for a bad file; all mean "refuse"
        return False
    return True


def _kind_of(path: Path) -> str:
    """pdf, jpg or png, by the file's content; anything else is refused."""
    with open(path, "rb") as file:
        head = file.read(len(PNG_MAGIC))
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - PDF_TAIL_BYTES))
        tail = file.read()
    if head.startswith(PDF_MAGIC):
        if b"%%EOF" not in tail:
            raise _refuse(BROKEN, "PDF without its end marker (truncated?).")
        return "pdf"
    if head.startswith(JPEG_MAGIC):
        if not _image_ok(path, "JPEG"):
            raise _refuse(BROKEN, "JPEG that cannot be decoded.")
        return "jpg"
    if head.startswith(PNG_MAGIC):
        if not _image_ok(path, "PNG"):
            raise _refuse(BROKEN, "PNG that cannot be decoded.")
        return "png"
    raise _refuse(WRONG_TYPE, "only PDF, JPEG and PNG files are accepted.")


def check(stream: BinaryIO, upload_dir: Path | str, max_bytes: int) -> str:
    """The kind of an acceptable upload (nothing is kept); InvalidRequest otherwise."""
    temp = _spool(stream, ensure_dir(upload_dir), max_bytes)
    try:
        return _kind_of(temp)
    finally:
        temp.unlink(missing_ok=True)
        stream.seek(0)


def store(stream: BinaryIO, upload_dir: Path | str, max_bytes: int) -> str:
    """Check and keep an upload; returns its stored name ("<random hex>.<pdf|jpg|png>")."""
    directory = ensure_dir(upload_dir)
    temp = _spool(stream, directory, max_bytes)
    try:
        name = f"{uuid.uuid4().hex}.{_kind_of(temp)}"
        _write_atomically(directory, name, encrypt_bytes(temp.read_bytes()))
    finally:
        temp.unlink(missing_ok=True)
    return name


def _write_atomically(directory: Path, name: str, content: bytes) -> None:
    handle, partial = tempfile.mkstemp(dir=directory, prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, directory / name)
    finally:
        Path(partial).unlink(missing_ok=True)


def stored_path(upload_dir: Path | str, name: str | None) -> Path:
    """Where a stored file is; only names this module gives out are accepted (no ../, no other files)."""
    if not isinstance(name, str) or not STORED_NAME.fullmatch(name):
        raise InvalidRequest("文件名不对。", f"not a stored upload name: {name!r}.", field="authorisation")
    directory = Path(upload_dir).resolve()
    path = directory / name
    if path.parent != directory:
        raise InvalidRequest("文件名不对。", "stored upload outside the upload directory.", field="authorisation")
    return path


def read_stored(upload_dir: Path | str, name: str | None) -> bytes:
    """A stored file's content, decrypted."""
    return decrypt_bytes(stored_path(upload_dir, name).read_bytes())


def delete_unreferenced(upload_dir: Path | str, referenced: set[str], older_than_seconds: float) -> int:
    """Stored files no application points at, and half-written ones, older than the given
    age (their request failed, or the process died before its transaction committed)."""
    directory, count = Path(upload_dir), 0
    if not directory.is_dir():
        return 0
    old = time.time() - older_than_seconds
    for path in directory.iterdir():
        stored = STORED_NAME.fullmatch(path.name) is not None and path.name not in referenced
        partial = path.name.startswith(PARTIAL_PREFIX) and path.name.endswith(PARTIAL_SUFFIX)
        if (stored or partial) and path.stat().st_mtime < old:
            path.unlink(missing_ok=True)
            count += 1
    return count


def reencrypt_stored(upload_dir: Path | str) -> int:
    """Every stored file under the newest data key (key rotation); returns how many."""
    directory, count = Path(upload_dir), 0
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        if STORED_NAME.fullmatch(path.name):
            _write_atomically(directory, path.name, reencrypt_bytes(path.read_bytes()))
            count += 1
    return count


def kind_of_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def delete(upload_dir: Path | str, name: str | None) -> None:
    if name:
        stored_path(upload_dir, name).unlink(missing_ok=True)
