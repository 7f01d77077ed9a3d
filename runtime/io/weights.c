/* weights.c — state_dict names, shape checks and all-or-nothing filling
 * shared by the weight-file readers (see weights.h). No file format here. */
#include "io/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define SLOTS (NODE_MAX_PARAMS + NODE_MAX_BUFFERS)

int weights_find(const Model *m, const char *name, WeightRef *r) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || (size_t)(dot - name) >= NODE_NAME_MAX) return 0;
    char node[NODE_NAME_MAX];
    memcpy(node, name, (size_t)(dot - name));
    node[dot - name] = '\0';
    int i = model_find(m, node);
    if (i < 0) return 0;
    const Node *n = &m->nodes[i];
    for (int k = 0; k < n->nparams; k++)
        if (strcmp(dot + 1, layer_param_name(k)) == 0) return *r = (WeightRef){i, 0, k}, 1;
    for (int k = 0; k < n->nbuffers; k++)
        if (strcmp(dot + 1, layer_buffer_name(k)) == 0) return *r = (WeightRef){i, 1, k}, 1;
    return 0;
}

const char *weights_name(const Model *m, WeightRef r, char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", m->nodes[r.node].name, r.buffer ? layer_buffer_name(r.k) : layer_param_name(r.k));
    return buf;
}

Tensor *weights_tensor(Model *m, WeightRef r) {
    Node *n = &m->nodes[r.node];
    return r.buffer ? &n->buffer[r.k] : &n->param[r.k];
}

char *weights_list(const Model *m) {
    size_t cap = 1;
    for (int i = 0; i < m->nnodes; i++) cap += (size_t)SLOTS * (NODE_NAME_MAX + 24);
    char *s = malloc(cap);
    if (!s) {
        sn_errorf("out of memory");
        return NULL;
    }
    size_t len = 0;
    s[0] = '\0';
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < (b ? n->nbuffers : n->nparams); k++) {
                char nm[2 * NODE_NAME_MAX];
                weights_name(m, (WeightRef){i, b, k}, nm, sizeof nm);
                len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? ", " : "", nm);
            }
    }
    return s;
}

int weights_fill_begin(WeightFill *w, Model *dst, const char *file) {
    memset(w, 0, sizeof *w);
    w->dst = dst;
    w->file = file;
    w->tmp = model_clone(dst);
    if (!w->tmp) return SN_ERR;
    w->seen = calloc((size_t)(dst->nnodes > 0 ? dst->nnodes : 1), SLOTS);
    if (!w->seen) {
        weights_fill_end(w);
        return sn_errorf("out of memory");
    }
    return SN_OK;
}

static int is_counter(WeightRef r) {
    return r.buffer && r.k == 2; /* num_batches_tracked */
}

int weights_check_shape(const WeightFill *w, WeightRef r, int ndim, const int64_t *shape, const char *what) {
    const Tensor *t = weights_tensor(w->tmp, r);
    int ok = ndim == t->ndim && (ndim == 0 || memcmp(shape, t->shape, sizeof(int64_t) * (size_t)ndim) == 0);
    if (!ok && is_counter(r)) ok = ndim == 0 || (ndim == 1 && shape[0] == 1);
    if (ok) return SN_OK;
    char nm[2 * NODE_NAME_MAX], a[160], b[160];
    const Node *n = &w->tmp->nodes[r.node];
    return sn_errorf("layer '%s' (%s): %s in '%s' has shape %s, the model expects %s", n->name,
                     layer_kind_name(n->kind), what ? what : (weights_name(w->tmp, r, nm, sizeof nm), nm), w->file,
                     shape_str(ndim, shape, a, sizeof a), tensor_shape_str(t, b, sizeof b));
}

int weights_fill_target(WeightFill *w, WeightRef r, const char *what, Tensor **out) {
    char *flag = &w->seen[r.node * SLOTS + (r.buffer ? NODE_MAX_PARAMS : 0) + r.k];
    if (*flag) {
        char nm[2 * NODE_NAME_MAX];
        return sn_errorf("'%s' holds values for '%s' twice (%s)", w->file, weights_name(w->tmp, r, nm, sizeof nm),
                         what ? what : "same name");
    }
    *flag = 1;
    *out = weights_tensor(w->tmp, r);
    return SN_OK;
}

int weights_fill_commit(WeightFill *w) {
    Model *m = w->tmp;
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < (b ? n->nbuffers : n->nparams); k++) {
                WeightRef r = {i, b, k};
                if (is_counter(r) || w->seen[i * SLOTS + (b ? NODE_MAX_PARAMS : 0) + k]) continue;
                char nm[2 * NODE_NAME_MAX];
                return sn_errorf("layer '%s' (%s): '%s' has no values for %s", n->name, layer_kind_name(n->kind),
                                 w->file, weights_name(m, r, nm, sizeof nm));
            }
    }
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < (b ? n->nbuffers : n->nparams); k++) {
                WeightRef r = {i, b, k};
                const Tensor *src = weights_tensor(m, r);
                memcpy(tensor_data(weights_tensor(w->dst, r)), tensor_data(src),
                       sizeof(float) * (size_t)tensor_numel(src));
            }
    }
    return SN_OK;
}

void weights_fill_end(WeightFill *w) {
    model_free(w->tmp);
    free(w->seen);
    w->tmp = NULL;
    w->seen = NULL;
}
