/* weights.h — what the weight-file readers share (h5model.c, safetensors.c,
 * keras.c): PyTorch state_dict names of a model's tensors ("conv1.weight",
 * "stem.bn.running_var"), shape checks whose messages name the layer and
 * both shapes, and all-or-nothing filling: a reader writes into a clone and
 * the model changes only once every tensor has been read and checked.
 *
 *   WeightFill w;
 *   weights_fill_begin(&w, m, "x.safetensors");
 *   for each tensor in the file:
 *       weights_find(m, name, &r) ... weights_check_shape(&w, r, ndim, shape, NULL)
 *       fill weights_fill_target(&w, r)
 *   rc = weights_fill_commit(&w);   copies into m when complete
 *   weights_fill_end(&w); */
#ifndef SANITY_WEIGHTS_H
#define SANITY_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* One tensor of a model: parameter k (weight, bias) or buffer k
 * (running_mean, running_var, num_batches_tracked) of a node. */
typedef struct WeightRef {
    int node;
    int buffer; /* 0 parameter, 1 buffer */
    int k;
} WeightRef;

/* 1 and *r set when `name` ("node.weight") names a tensor of m, else 0. */
int weights_find(const Model *m, const char *name, WeightRef *r);
/* "conv1.weight" into buf. */
const char *weights_name(const Model *m, WeightRef r, char *buf, size_t n);
Tensor *weights_tensor(Model *m, WeightRef r);
/* "conv1.weight, conv1.bias, ..." of every tensor of m: malloc'd (NULL when
 * out of memory). */
char *weights_list(const Model *m);

typedef struct WeightFill {
    Model *dst;       /* the model to fill */
    Model *tmp;       /* its clone, filled by the reader */
    char *seen;       /* per node, NODE_MAX_PARAMS + NODE_MAX_BUFFERS flags */
    const char *file; /* for messages */
} WeightFill;

/* SN_ERR only when out of memory. */
int weights_fill_begin(WeightFill *w, Model *dst, const char *file);
/* SN_OK when a file tensor of this shape fits r. num_batches_tracked takes
 * [] or [1]. `what` describes the file's tensor in the message (NULL: its
 * name): "layer 'conv1' (conv2d): 'conv1.weight' in 'x.h5' has shape
 * [6, 1, 3, 3], the model expects [6, 1, 5, 5]". */
int weights_check_shape(const WeightFill *w, WeightRef r, int ndim, const int64_t *shape, const char *what);
/* The clone's tensor for r, marked as read (SN_ERR if it was read before:
 * "... appears twice"). */
int weights_fill_target(WeightFill *w, WeightRef r, const char *what, Tensor **out);
/* Every parameter and every batch-norm running statistic must have been
 * read (num_batches_tracked may be absent: it keeps the model's value);
 * then the values are copied into dst. Errors name the first missing
 * tensor. */
int weights_fill_commit(WeightFill *w);
void weights_fill_end(WeightFill *w);

#endif
