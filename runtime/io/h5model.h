/* h5model.h — sanity's model files (HDF5) and Keras HDF5 weights.
 *
 * sanity format (written by h5model_save, scripts/export_torch.py):
 *   /                        attributes: format = "sanity.model",
 *                            format_version = 1, architecture = the JSON of
 *                            model_to_json (model.h), plus any the caller adds
 *   /<layer>/weight          float32, PyTorch layout: conv [out, in/groups,
 *   /<layer>/bias            kh, kw], linear [out, in], batch norm [C]
 *   /<layer>/running_mean    float32 [C]   (batch norm)
 *   /<layer>/running_var     float32 [C]
 *   /<layer>/num_batches_tracked   int64 scalar (optional when reading)
 * One group per layer that has parameters or buffers, named as the layer
 * ("stage2.shortcut.conv"); h5py users read f["conv1/weight"]. Objects
 * other than these are ignored when reading (a file may carry more).
 *
 * Keras (h5model_load_keras): the HDF5 files of Keras 2's model.save(...h5)
 * or save_weights(...h5): layer groups under /model_weights (or the root),
 * each holding datasets "<layer>/kernel:0", "bias:0", BN "gamma:0",
 * "beta:0", "moving_mean:0", "moving_variance:0". Converted on reading:
 * conv kernels HWIO -> OIHW, dense kernels [in, out] -> [out, in], and the
 * rows of a dense layer fed by a flatten of a [C, H, W] map reordered from
 * Keras's channels-last (h, w, c) order to sanity's (c, h, w).
 *
 * Reading is all-or-nothing (io/weights.h): on any error the model is
 * unchanged. Errors name the file, the layer and both shapes. HDF5 is used
 * from the calling thread only. */
#ifndef SANITY_H5MODEL_H
#define SANITY_H5MODEL_H

#include "io/results.h"
#include "model.h"

/* Writes m (architecture and every parameter and buffer) to path, through
 * "<path>.partial" renamed when complete (results.h). attrs: extra root
 * attributes (NULL/0 for none), e.g. training details. */
int h5model_save(const Model *m, const char *path, const ResultsAttr *attrs, int nattrs);

/* A new model rebuilt from the file alone; NULL with a message on error. */
Model *h5model_load(const char *path);

/* Fills an existing model from a sanity model file's tensors (the file's
 * architecture is not consulted: names and shapes must fit). */
int h5model_load_into(Model *m, const char *path);

typedef struct KerasMap {
    const char *keras; /* Keras layer name */
    const char *node;  /* sanity layer name */
} KerasMap;

/* Fills m from Keras weights. map (n entries) renames Keras layers to
 * sanity layers; unmapped Keras layers keep their names. channels_last:
 * reorder dense rows after a flatten as described above (Keras's default
 * data_format). Every Keras layer with weights must match a layer of m,
 * and every parameter of m must be filled. */
int h5model_load_keras(Model *m, const char *path, const KerasMap *map, int nmap, int channels_last);

#endif
