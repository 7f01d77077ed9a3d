/* randomize.h — parameter randomization for model randomization tests
 * (MPRT and its descendants): which layers, in which order, and how.
 *
 * A randomizable layer is a node with parameters (linear, conv2d, batch
 * norm). Steps are planned over the randomizable layers in a traversal
 * order: top-down (output layer first, as Adebayo et al.'s cascade and
 * Xplique's default), bottom-up (input layer first; Xplique's reverse=True),
 * or independent (one layer at a time, the others trained). stop_layer says
 * how many layers the traversal covers, with Xplique's meaning: a fraction f
 * in (0, 1] takes floor(f * K) of the K layers; an integer k takes the first
 * k; a name takes every layer before that one (the named layer itself is not
 * randomized).
 *
 * Every draw is keyed by (seed, purpose, layer name, parameter), so a layer's
 * random values do not depend on the step, the order or what was randomized
 * before: step k of a cascade equals "clone, randomize the step's layers",
 * which is what makes a killed run resumable at any step. Callers randomize
 * clones (model_clone); nothing here copies a model. */
#ifndef SANITY_RANDOMIZE_H
#define SANITY_RANDOMIZE_H

#include <stdint.h>

#include "model.h"

typedef enum {
    RANDOMIZE_REINIT,   /* the layer's own default initializer (PyTorch reset_parameters) */
    RANDOMIZE_NOISE,    /* w += level * N(0,1), or level * std(w) * N(0,1) when relative */
    RANDOMIZE_SHUFFLE,  /* a random permutation of each parameter's entries */
    RANDOMIZE_ZERO,     /* all zeros */
    RANDOMIZE_SIGN_FLIP /* w = -w */
} RandomizeMode;

typedef struct RandomizeOptions {
    RandomizeMode mode;
    double level;   /* noise: standard deviation (absolute or relative) */
    int relative;   /* noise: level is a multiple of each parameter's own std */
    int bias;       /* randomize biases (and batch-norm beta) too; default 1 */
    int bn_reset;   /* batch norm: reset running mean/var to 0/1 (default 1, as
                     * PyTorch's reset_parameters and Quantus); 0 keeps them */
    uint64_t seed;
} RandomizeOptions;

/* Randomizes the parameters of node `node` in place. SN_ERR when the node
 * has no parameters (named in the message). */
int randomize_node(Model *m, int node, const RandomizeOptions *o);

typedef enum { ORDER_TOP_DOWN, ORDER_BOTTOM_UP, ORDER_INDEPENDENT } RandomizeOrder;

typedef enum { STOP_ALL, STOP_FRACTION, STOP_COUNT, STOP_NAME } StopKind;
typedef struct StopLayer {
    StopKind kind;
    double fraction; /* STOP_FRACTION, in (0, 1] */
    int count;       /* STOP_COUNT, 1..K */
    const char *name; /* STOP_NAME: a randomizable layer, not the first in traversal */
} StopLayer;

/* The randomizable layers that pass the filters, in input-to-output order:
 * `types` (layer kind names, NULL = all) and `skip` (node names, NULL =
 * none; unknown or non-randomizable names are an error listing the
 * randomizable layers). Returns the count (>= 1; zero layers is an error). */
int randomize_candidates(const Model *m, const char *const *types, int ntypes, const char *const *skip, int nskip,
                         int *out);

/* Plans the steps: layers[k] is the node randomized at step k, in traversal
 * order (top-down for ORDER_TOP_DOWN and, unless `reverse`, for
 * ORDER_INDEPENDENT). A cascade randomizes layers[0..k] at step k; an
 * independent plan only layers[k]. Returns the number of steps or SN_ERR
 * (stop_layer out of range, unknown name, no layer selected). */
int randomize_plan(const Model *m, RandomizeOrder order, int reverse, const StopLayer *stop, const int *cands,
                   int ncands, int *layers);

#endif
