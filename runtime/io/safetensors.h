/* safetensors.h — reading .safetensors weight files (Hugging Face's format:
 * an 8-byte little-endian header length N, N bytes of JSON mapping tensor
 * names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into
 * the byte buffer that follows the header), then the raw little-endian
 * tensors) into a model whose parameter names match the tensor names
 * (PyTorch state_dict names: "conv1.weight", "bn.running_mean").
 *
 * Every header field is validated against the file before any data is read:
 * header length within the file, offsets inside the data buffer and equal
 * to shape x dtype size, known dtype. F32, F64, F16, BF16, I64 and I32 are
 * read (converted to float32); other dtypes are errors. "__metadata__" is
 * skipped. All-or-nothing: on any error the model is unchanged. */
#ifndef SANITY_SAFETENSORS_H
#define SANITY_SAFETENSORS_H

#include "model.h"

/* Fills m. strict: a tensor in the file that is not a parameter or buffer of
 * m is an error (else it is skipped). Every parameter of m must be in the
 * file (num_batches_tracked may be absent). */
int safetensors_load(Model *m, const char *path, int strict);

/* Writes m's parameters and buffers as F32 tensors (num_batches_tracked as
 * I64), for interchange with PyTorch (safetensors.torch.load_file). */
int safetensors_save(const Model *m, const char *path);

#endif
