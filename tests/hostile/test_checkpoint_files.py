"""Hostile checkpoints (issue 21): ``torch.save`` files are read with ``weights_only=True``
(a file naming ``os.system`` creates no canary), safetensors headers are checked before any
tensor is read (huge or inconsistent sizes, malformed JSON or entries, truncation at every
offset), a ``.pt`` named ``.safetensors`` (and the reverse) is told by its magic bytes, and
FIFOs, folders and unreadable files are one line, never a hang or a raw exception."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct

import pytest
import torch
from hostile_kit import (
    PLANTS,
    _Canary,
    assert_one_line_error,
    byte_mutations,
    can_be_unreadable,
    exhaustive,
    fast,
    plant,
)
from hypothesis import given

from robustbench_runner.errors import UserError
from robustbench_runner.io import load_checkpoint
from robustbench_runner.reading import (
    BadFile,
    WeightsOnlyRefused,
    checkpoint_format,
    file_head,
    load_safetensors,
    load_torch,
    load_torch_trusted,
)
from robustbench_runner.user_checkpoints import load_file, read_checkpoint

READERS = [load_torch, load_safetensors, load_torch_trusted, checkpoint_format, file_head,
           "robustbench_runner.user_checkpoints.load_file", "robustbench_runner.io.load_checkpoint"]  # fmt: skip

STATE = {"fc.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "fc.bias": torch.tensor([1.0, -1.0])}


def _st_bytes(state=STATE) -> bytes:
    from safetensors.torch import save

    return save(state)


def _pt_bytes(obj=STATE) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


ST, PT = _st_bytes(), _pt_bytes()


def _st(header, body: bytes = b"") -> bytes:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(raw)) + raw + body


def _one_line(e: BaseException, name: str) -> str:
    text = str(e)
    assert name in text and "\n" not in text, text
    return text


def test_valid_files_load(tmp_path):
    (tmp_path / "w.pt").write_bytes(PT)
    (tmp_path / "w.safetensors").write_bytes(ST)
    for name in ("w.pt", "w.safetensors"):
        ck = read_checkpoint(tmp_path / name)
        assert torch.equal(ck.state["fc.weight"], STATE["fc.weight"])


def test_names_do_not_decide_the_format(tmp_path):
    """A .pt named .safetensors and a safetensors file named .pt both load (by magic bytes);
    the direct readers name the mix-up in one line."""
    (tmp_path / "pt.safetensors").write_bytes(PT)
    (tmp_path / "st.pt").write_bytes(ST)
    assert checkpoint_format(tmp_path / "pt.safetensors") == "torch-zip"
    assert checkpoint_format(tmp_path / "st.pt") == "safetensors"
    for name in ("pt.safetensors", "st.pt"):
        assert torch.equal(read_checkpoint(tmp_path / name).state["fc.bias"], STATE["fc.bias"])
    with pytest.raises(BadFile, match="is a torch.save file, not a safetensors file"):
        load_safetensors(tmp_path / "pt.safetensors")
    with pytest.raises(BadFile, match="is a safetensors file, not a torch.save file"):
        load_torch(tmp_path / "st.pt")


# -- code never runs -------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True])
def test_code_checkpoint_creates_no_canary(tmp_path, legacy):
    canary = tmp_path / "canary"
    p = tmp_path / "evil.pt"
    if legacy:
        p.write_bytes(pickle.dumps({"state_dict": _Canary(canary)}, protocol=2))
    else:
        p.write_bytes(_pt_bytes({"state_dict": _Canary(canary)}))
    with pytest.raises(UserError) as e:
        load_file(p)
    _one_line(e.value, "evil.pt")
    assert not canary.exists()
    if not legacy:
        with pytest.raises(WeightsOnlyRefused) as e2:
            load_torch(p)
        assert "system" in e2.value.global_name


# -- safetensors headers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,match",
    [(b"", "too short"), (b"\x01\x00", "too short"), (struct.pack("<Q", 2**63) + b"{}", "larger than the 100 MB"),
     (struct.pack("<Q", 5000) + b"{}", "larger than the file"), (_st(b"{not json"), "not valid JSON"),
     (_st(b"[1, 2]"), "not a dict"), (_st(b"\xff\xfe"), "not UTF-8"),
     (_st({"w": {"dtype": "X64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8), "malformed"),
     (_st({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), "malformed"),
     (_st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4), "do not hold"),
     (_st({"w": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, b"\0" * 8), "do not hold"),
     (_st({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 4), "do not hold"),
     (_st({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4), "malformed"),
     (_st({"w": [1, 2]}), "malformed"), (_st({"a": {"b": {"c": {}}}} if False else "x" * 70), "not a dict")],
)  # fmt: skip
def test_malformed_safetensors(tmp_path, data, match):
    p = tmp_path / "w.safetensors"
    p.write_bytes(data)
    with pytest.raises(BadFile) as e:
        load_safetensors(p)
    assert match in _one_line(e.value, "w.safetensors")
    with pytest.raises(UserError) as e:  # the user-checkpoint path: one line too
        load_file(p)
    _one_line(e.value, "w.safetensors")


@pytest.mark.parametrize("data,name", [(ST, "w.safetensors"), (PT, "w.pt")], ids=["safetensors", "torch-zip"])
def test_truncation(tmp_path, data, name):
    """Every prefix of the safetensors file; prefixes of the zip at every 64th byte and every
    byte of its last 64 (the central directory)."""
    p = tmp_path / name
    offsets = range(len(data)) if name.endswith("safetensors") else sorted({*range(0, len(data), 64), *range(len(data) - 64, len(data))})
    for k in offsets:
        p.write_bytes(data[:k])
        with pytest.raises(UserError) as e:
            load_file(p)
        _one_line(e.value, name)


@pytest.mark.parametrize("kind", PLANTS)
def test_filesystem_hostiles(tmp_path, kind):
    if kind == "unreadable" and not can_be_unreadable():
        pytest.skip("root reads mode-000 files")
    outside = tmp_path / "fifo_elsewhere"
    os.mkfifo(outside)
    p = tmp_path / "w.pt"
    plant(p, kind, outside)
    with pytest.raises(UserError) as e:
        load_file(p)
    _one_line(e.value, "w.pt")
    with pytest.raises(UserError) as e:  # a run's own checkpoint path (io.load_checkpoint)
        load_checkpoint(p)
    _one_line(e.value, "w.pt")


def _check_mutation(tmp_path, desc_bytes, name):
    desc, data = desc_bytes
    p = tmp_path / name
    p.write_bytes(data)
    try:
        obj = load_file(p)
    except UserError as e:
        assert name in str(e) and "\n" not in str(e), desc
    else:
        assert isinstance(obj, dict), desc


@fast
@given(byte_mutations(ST, header=96))
def test_damaged_safetensors_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("s"), desc_bytes, "w.safetensors")


@fast
@given(byte_mutations(PT, header=64))
def test_damaged_torch_zip_fast(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("p"), desc_bytes, "w.pt")


@pytest.mark.slow
@exhaustive
@given(byte_mutations(ST, header=96))
def test_damaged_safetensors_exhaustive(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("s"), desc_bytes, "w.safetensors")


@pytest.mark.slow
@exhaustive
@given(byte_mutations(PT, header=64))
def test_damaged_torch_zip_exhaustive(tmp_path_factory, desc_bytes):
    _check_mutation(tmp_path_factory.mktemp("p"), desc_bytes, "w.pt")


@pytest.mark.slow  # a subprocess that starts torch
def test_rbr_run_eval_with_a_malformed_safetensors_exits_2(tmp_path):
    from rbr_testing import TINY, cli

    p = tmp_path / "w.safetensors"
    p.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    proc = cli([*TINY, "mode=eval", f"checkpoint={p}", f"output_root={tmp_path / 'out'}"], timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, "w.safetensors")
