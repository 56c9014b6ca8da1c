"""Requantizes a GGUF file's Q4_1 tensors to Q8_0, copying everything else unchanged.

Why: candle (mistral.rs's tensor library) has SIMD dot products for Q8_0 but only a scalar
one for Q4_1, so the Q4_1 SmolLM2 release decodes several times slower than it could. Q8_0
holds every Q4_1 weight almost exactly (8-bit steps inside each block of 32 instead of
4-bit ones), so this changes speed, not the model. Uses gguf-py (PyPI `gguf`, from the
llama.cpp project); deterministic: the same input gives the same bytes.

usage: python requantize.py IN.gguf OUT.gguf
"""
import sys

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize


def main(src: str, dst: str) -> None:
    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(dst, arch=arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value = field.contents()
        if field.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType.MOSTLY_Q8_0)
        val_type = field.types[0]
        sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, val_type, sub_type=sub_type)
    converted = 0
    for t in reader.tensors:
        if t.tensor_type == Q.Q4_1:
            weights = dequantize(t.data, Q.Q4_1).astype(np.float32)
            data, kind = quantize(weights, Q.Q8_0), Q.Q8_0
            converted += 1
            writer.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=kind)
        else:
            writer.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"requantize: {converted} Q4_1 tensors → Q8_0 in {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
