/* randomize.c — layer randomization and step planning (randomize.h). */
#include "randomize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

/* Which parameters and buffers a mode touches: weight always; bias and the
 * batch-norm shift only with o->bias. */
static int touches_param(const RandomizeOptions *o, int k) { return k == 0 || o->bias; }

static int perturb_param(const Model *m, const Node *n, int k, const RandomizeOptions *o, Tensor *p) {
    float *w = tensor_data(p);
    int64_t len = tensor_numel(p);
    const char *pname = layer_param_name(k);
    (void)m;
    switch (o->mode) {
    case RANDOMIZE_ZERO:
        memset(w, 0, sizeof(float) * (size_t)len);
        return SN_OK;
    case RANDOMIZE_SIGN_FLIP:
        for (int64_t i = 0; i < len; i++) w[i] = -w[i];
        return SN_OK;
    case RANDOMIZE_NOISE: {
        double scale = o->level;
        if (o->relative) {
            double s = 0, ss = 0;
            for (int64_t i = 0; i < len; i++) s += w[i];
            double mean = s / (double)len;
            for (int64_t i = 0; i < len; i++) ss += (w[i] - mean) * (w[i] - mean);
            scale *= len > 1 ? sqrt(ss / (double)(len - 1)) : 0.0;
        }
        float *z = malloc(sizeof(float) * (size_t)len);
        if (!z) return sn_errorf("out of memory");
        rng_normal(z, len, o->seed, layer_param_stream("randomize.noise", n->name, pname), 0);
        for (int64_t i = 0; i < len; i++) w[i] = (float)((double)w[i] + scale * z[i]);
        free(z);
        return SN_OK;
    }
    case RANDOMIZE_SHUFFLE: {
        int64_t *perm = malloc(sizeof(int64_t) * (size_t)len);
        float *copy = malloc(sizeof(float) * (size_t)len);
        if (!perm || !copy) {
            free(perm), free(copy);
            return sn_errorf("out of memory");
        }
        memcpy(copy, w, sizeof(float) * (size_t)len);
        rng_permutation(perm, len, o->seed, layer_param_stream("randomize.shuffle", n->name, pname));
        for (int64_t i = 0; i < len; i++) w[i] = copy[perm[i]];
        free(perm), free(copy);
        return SN_OK;
    }
    case RANDOMIZE_REINIT:
        break;
    }
    return SN_OK;
}

int randomize_node(Model *m, int node, const RandomizeOptions *o) {
    Node *n = &m->nodes[node];
    if (n->nparams == 0)
        return sn_errorf("layer '%s' (%s) has no parameters to randomize", n->name, layer_kind_name(n->kind));
    if (o->mode == RANDOMIZE_REINIT) {
        /* model_init_node resets everything; put back what must be kept */
        Tensor keep_bias = {0}, keep_buf[NODE_MAX_BUFFERS] = {{0}};
        int rc = SN_OK;
        if (!o->bias && n->nparams > 1) rc = tensor_clone(&keep_bias, &n->param[1]);
        for (int b = 0; rc == SN_OK && !o->bn_reset && b < n->nbuffers; b++) rc = tensor_clone(&keep_buf[b], &n->buffer[b]);
        if (rc == SN_OK) {
            model_init_node(m, node, o->seed, "randomize.reinit");
            if (keep_bias.storage)
                memcpy(tensor_data(&n->param[1]), tensor_data(&keep_bias), sizeof(float) * (size_t)tensor_numel(&keep_bias));
            for (int b = 0; b < n->nbuffers; b++)
                if (keep_buf[b].storage)
                    memcpy(tensor_data(&n->buffer[b]), tensor_data(&keep_buf[b]),
                           sizeof(float) * (size_t)tensor_numel(&keep_buf[b]));
        }
        tensor_release(&keep_bias);
        for (int b = 0; b < NODE_MAX_BUFFERS; b++) tensor_release(&keep_buf[b]);
        return rc;
    }
    for (int k = 0; k < n->nparams; k++) {
        if (!touches_param(o, k)) continue;
        if (perturb_param(m, n, k, o, &n->param[k]) != SN_OK) return SN_ERR;
    }
    if (o->bn_reset && n->nbuffers >= 2) { /* running mean 0, running var 1 */
        memset(tensor_data(&n->buffer[0]), 0, sizeof(float) * (size_t)tensor_numel(&n->buffer[0]));
        float *v = tensor_data(&n->buffer[1]);
        for (int64_t i = 0; i < tensor_numel(&n->buffer[1]); i++) v[i] = 1.0f;
    }
    return SN_OK;
}

/* "conv1, conv2, fc1" of the candidates, for error messages. */
static const char *list_names(const Model *m, const int *idx, int n, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 1 < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", m->nodes[idx[i]].name);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

int randomize_candidates(const Model *m, const char *const *types, int ntypes, const char *const *skip, int nskip,
                         int *out) {
    int all[4096], nall = 0;
    for (int i = 0; i < m->nnodes && nall < 4096; i++)
        if (model_node_randomizable(m, i)) all[nall++] = i;
    char names[2048];
    if (nall == 0) return sn_errorf("the model has no randomizable layers (no layer has parameters)");
    for (int t = 0; t < ntypes; t++)
        if (layer_kind_from_name(types[t]) < 0)
            return sn_errorf("unknown layer type '%s' in types (known: %s)", types[t], layer_kind_list());
    for (int s = 0; s < nskip; s++) {
        int found = 0;
        for (int i = 0; i < nall && !found; i++) found = strcmp(m->nodes[all[i]].name, skip[s]) == 0;
        if (!found)
            return sn_errorf("skip: '%s' is not a randomizable layer (randomizable: %s)", skip[s],
                             list_names(m, all, nall, names, sizeof names));
    }
    int n = 0;
    for (int i = 0; i < nall; i++) {
        const Node *node = &m->nodes[all[i]];
        int keep = ntypes == 0;
        for (int t = 0; t < ntypes && !keep; t++) keep = strcmp(layer_kind_name(node->kind), types[t]) == 0;
        for (int s = 0; s < nskip && keep; s++) keep = strcmp(node->name, skip[s]) != 0;
        if (keep) out[n++] = all[i];
    }
    if (n == 0) return sn_errorf("no randomizable layer is left after the types/skip filters");
    return n;
}

int randomize_plan(const Model *m, RandomizeOrder order, int reverse, const StopLayer *stop, const int *cands,
                   int ncands, int *layers) {
    int from_top = order == ORDER_TOP_DOWN || (order == ORDER_INDEPENDENT && !reverse);
    if (order == ORDER_BOTTOM_UP || reverse) from_top = 0;
    int trav[4096];
    for (int i = 0; i < ncands; i++) trav[i] = from_top ? cands[ncands - 1 - i] : cands[i];
    char names[2048];
    int k = ncands;
    switch (stop->kind) {
    case STOP_ALL:
        break;
    case STOP_FRACTION:
        if (!(stop->fraction > 0 && stop->fraction <= 1))
            return sn_errorf("stop_layer fraction %g is outside (0, 1]", stop->fraction);
        k = (int)floor(stop->fraction * ncands + 1e-9);
        if (k < 1)
            return sn_errorf("stop_layer %g selects no layer of the %d randomizable ones (at least %.3g needed)",
                             stop->fraction, ncands, 1.0 / ncands);
        break;
    case STOP_COUNT:
        if (stop->count < 1 || stop->count > ncands)
            return sn_errorf("stop_layer %d is out of range: the model has %d randomizable layers (%s)", stop->count,
                             ncands, list_names(m, trav, ncands, names, sizeof names));
        k = stop->count;
        break;
    case STOP_NAME: {
        int at = -1;
        for (int i = 0; i < ncands && at < 0; i++)
            if (strcmp(m->nodes[trav[i]].name, stop->name) == 0) at = i;
        if (at < 0)
            return sn_errorf("stop_layer '%s' is not a randomizable layer (in traversal order: %s)", stop->name,
                             list_names(m, trav, ncands, names, sizeof names));
        if (at == 0)
            return sn_errorf("stop_layer '%s' is the first layer of the traversal: nothing would be randomized "
                             "(the named layer itself is not randomized, as in Xplique)",
                             stop->name);
        k = at;
        break;
    }
    }
    memcpy(layers, trav, sizeof(int) * (size_t)k);
    return k;
}
