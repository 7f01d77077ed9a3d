/* attr/lrp.c — LRP rules as BackwardRule functions, composites and the
 * chunked driver (see lrp.h). A linear/conv2d rule is a sum of terms
 * (input modifier, weights, bias) run through the layer's own kernels with
 * weights modified once per call; everything elementwise is parallel over
 * elements, the kernels over samples, so a sample's relevance never depends
 * on its chunk or the thread count. Not here: DeepLift (deeplift.c),
 * the rules' documentation (lrp.h). */
#include "attr/lrp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/pool.h"

/* ---- names ------------------------------------------------------------ */

static const struct {
    const char *name;
    LrpRuleKind kind;
    float alpha, beta; /* presets; < 0: from the parameters */
} rule_names[] = {
    {"pass", LRP_PASS, -1, -1},
    {"epsilon", LRP_EPSILON, -1, -1},
    {"gamma", LRP_GAMMA, -1, -1},
    {"zplus", LRP_ZPLUS, -1, -1},
    {"alpha_beta", LRP_ALPHA_BETA, -1, -1},
    {"alpha1_beta0", LRP_ALPHA_BETA, 1, 0},
    {"alpha2_beta1", LRP_ALPHA_BETA, 2, 1},
    {"zbox", LRP_ZBOX, -1, -1},
    {"flat", LRP_FLAT, -1, -1},
    {"w_square", LRP_W_SQUARE, -1, -1},
    {"winner_take_all", LRP_WINNER_TAKE_ALL, -1, -1},
    {"proportional", LRP_PROPORTIONAL, -1, -1},
};
#define NRULE_NAMES ((int)(sizeof rule_names / sizeof rule_names[0]))

const char *lrp_rule_list(void) {
    return "pass, epsilon, gamma, zplus, alpha_beta, alpha1_beta0, alpha2_beta1, zbox, flat, w_square, "
           "winner_take_all, proportional";
}

void lrp_params_default(LrpParams *p) {
    memset(p, 0, sizeof *p);
    p->epsilon = 1e-6f;
    p->stabilizer = 1e-6f;
    p->gamma = 0.25f;
    p->alpha = 2, p->beta = 1;
    p->low = 0, p->high = 1;
}

int lrp_rule_named(const char *name, const LrpParams *p, LrpRule *r) {
    for (int i = 0; i < NRULE_NAMES; i++) {
        if (strcmp(name, rule_names[i].name) != 0) continue;
        memset(r, 0, sizeof *r);
        r->kind = rule_names[i].kind;
        r->epsilon = r->kind == LRP_EPSILON ? p->epsilon : p->stabilizer;
        r->gamma = p->gamma;
        r->alpha = rule_names[i].alpha >= 0 ? rule_names[i].alpha : p->alpha;
        r->beta = rule_names[i].beta >= 0 ? rule_names[i].beta : p->beta;
        r->low = p->low, r->high = p->high;
        r->low_t = p->low_t, r->high_t = p->high_t;
        return SN_OK;
    }
    return sn_errorf("unknown LRP rule '%s' (valid: %s)", name, lrp_rule_list());
}

const char *lrp_rule_name(const LrpRule *r) {
    if (r->kind == LRP_ALPHA_BETA) {
        if (r->alpha == 1 && r->beta == 0) return "alpha1_beta0";
        if (r->alpha == 2 && r->beta == 1) return "alpha2_beta1";
    }
    for (int i = 0; i < NRULE_NAMES; i++)
        if (rule_names[i].kind == r->kind) return rule_names[i].name;
    return "?";
}

int lrp_rule_applicable(LrpRuleKind k, LayerKind kind) {
    switch (kind) {
    case LAYER_LINEAR:
    case LAYER_CONV2D:
        return k >= LRP_EPSILON && k <= LRP_W_SQUARE;
    case LAYER_MAXPOOL2D:
        return k == LRP_WINNER_TAKE_ALL || k == LRP_PROPORTIONAL;
    case LAYER_AVGPOOL2D:
    case LAYER_ADAPTIVE_AVGPOOL2D:
    case LAYER_ADD:
        return k == LRP_EPSILON;
    case LAYER_BATCHNORM1D:
    case LAYER_BATCHNORM2D:
        return k == LRP_EPSILON || k == LRP_PASS;
    default:
        return k == LRP_PASS;
    }
}

static const char *applicable_list(LayerKind kind) {
    switch (kind) {
    case LAYER_LINEAR:
    case LAYER_CONV2D:
        return "epsilon, gamma, zplus, alpha_beta, alpha1_beta0, alpha2_beta1, zbox, flat, w_square";
    case LAYER_MAXPOOL2D:
        return "winner_take_all, proportional";
    case LAYER_AVGPOOL2D:
    case LAYER_ADAPTIVE_AVGPOOL2D:
    case LAYER_ADD:
        return "epsilon";
    case LAYER_BATCHNORM1D:
    case LAYER_BATCHNORM2D:
        return "epsilon, pass";
    default:
        return "pass";
    }
}

static const char *const composite_names[LRP_COMPOSITE_COUNT] = {
    "epsilon",          "zplus", "alpha1_beta0", "alpha2_beta1",      "gamma",
    "w_square",         "flat",  "epsilon_plus", "epsilon_gamma_box", "epsilon_alpha2_beta1",
    "epsilon_plus_flat"};
/* Rule of conv2d nodes, linear nodes and the first layer (NULL: by kind). */
static const char *const comp_conv[LRP_COMPOSITE_COUNT] = {"epsilon", "zplus",        "alpha1_beta0", "alpha2_beta1",
                                                           "gamma",   "w_square",     "flat",         "zplus",
                                                           "gamma",   "alpha2_beta1", "zplus"};
static const char *const comp_linear[LRP_COMPOSITE_COUNT] = {"epsilon", "zplus",    "alpha1_beta0", "alpha2_beta1",
                                                             "gamma",   "w_square", "flat",         "epsilon",
                                                             "epsilon", "epsilon",  "epsilon"};
static const char *const comp_first[LRP_COMPOSITE_COUNT] = {
    [LRP_C_EPSILON_GAMMA_BOX] = "zbox", [LRP_C_EPSILON_PLUS_FLAT] = "flat"};

int lrp_composite_from_name(const char *name) {
    for (int i = 0; i < LRP_COMPOSITE_COUNT; i++)
        if (strcmp(name, composite_names[i]) == 0) return i;
    return -1;
}

const char *lrp_composite_name(LrpComposite c) {
    return c >= 0 && c < LRP_COMPOSITE_COUNT ? composite_names[c] : "?";
}

const char *lrp_composite_list(void) {
    return "epsilon, zplus, alpha1_beta0, alpha2_beta1, gamma, w_square, flat, epsilon_plus, epsilon_gamma_box, "
           "epsilon_alpha2_beta1, epsilon_plus_flat";
}

void lrp_composite_rules(const Model *m, LrpComposite c, const LrpParams *p, LrpRule *rules) {
    int first = -1;
    for (int i = 0; i < m->nnodes && first < 0; i++)
        if (m->nodes[i].kind == LAYER_LINEAR || m->nodes[i].kind == LAYER_CONV2D) first = i;
    for (int i = 0; i < m->nnodes; i++) {
        LayerKind k = m->nodes[i].kind;
        const char *name = "pass";
        int stab_eps = 0;
        if (k == LAYER_LINEAR || k == LAYER_CONV2D)
            name = i == first && comp_first[c] ? comp_first[c] : k == LAYER_LINEAR ? comp_linear[c] : comp_conv[c];
        else if (k == LAYER_MAXPOOL2D)
            name = "winner_take_all";
        else if (lrp_rule_applicable(LRP_EPSILON, k))
            name = "epsilon", stab_eps = 1;
        lrp_rule_named(name, p, &rules[i]); /* every name here is valid */
        if (stab_eps) rules[i].epsilon = p->stabilizer;
    }
}

int lrp_check_rules(const Model *m, const LrpRule *rules) {
    for (int i = 0; i < m->nnodes; i++) {
        const LrpRule *r = &rules[i];
        const Node *n = &m->nodes[i];
        const char *rn = lrp_rule_name(r);
        if (!lrp_rule_applicable(r->kind, n->kind))
            return sn_errorf("LRP rule '%s' is not applicable to layer '%s' (%s; applicable: %s)", rn, n->name,
                             layer_kind_name(n->kind), applicable_list(n->kind));
        if (!(r->epsilon >= 0) || isinf(r->epsilon))
            return sn_errorf("LRP rule '%s' at layer '%s': %s must be a non-negative number, got %g", rn, n->name,
                             r->kind == LRP_EPSILON ? "epsilon" : "stabilizer", (double)r->epsilon);
        if (r->kind == LRP_GAMMA && !(r->gamma >= 0 && isfinite(r->gamma)))
            return sn_errorf("LRP rule 'gamma' at layer '%s': gamma must be non-negative, got %g", n->name,
                             (double)r->gamma);
        if (r->kind == LRP_ALPHA_BETA &&
            !(r->beta >= 0 && isfinite(r->alpha) && fabs((double)r->alpha - r->beta - 1) <= 1e-6))
            return sn_errorf("LRP rule '%s' at layer '%s': needs alpha - beta = 1 and beta >= 0, got alpha = %g, "
                             "beta = %g",
                             rn, n->name, (double)r->alpha, (double)r->beta);
        if (r->kind == LRP_ZBOX) {
            const float *lo = r->low_t ? tensor_data(r->low_t) : &r->low;
            const float *hi = r->high_t ? tensor_data(r->high_t) : &r->high;
            int64_t nl = r->low_t ? tensor_numel(r->low_t) : 1, nh = r->high_t ? tensor_numel(r->high_t) : 1;
            if (nl > 1 && nh > 1 && nl != nh)
                return sn_errorf("LRP rule 'zbox' at layer '%s': low has %lld elements, high %lld", n->name,
                                 (long long)nl, (long long)nh);
            int64_t cnt = nl > nh ? nl : nh;
            for (int64_t j = 0; j < cnt; j++) {
                float l = lo[nl > 1 ? j : 0], h = hi[nh > 1 ? j : 0];
                if (!(l <= h))
                    return sn_errorf("LRP rule 'zbox' at layer '%s': low must not exceed high (low = %g > high = %g "
                                     "at element %lld)",
                                     n->name, (double)l, (double)h, (long long)j + 1);
            }
        }
    }
    return SN_OK;
}

/* ---- elementwise helpers (parallel over elements) ---------------------- */

typedef enum {
    EW_STABDIV,   /* d = a / stab(b) */
    EW_MUL,       /* d *= a */
    EW_ADD,       /* d += a */
    EW_COPY,      /* d = a */
    EW_AXPY,      /* d += c * a * b */
    EW_AXPY_POS,  /* d += c * max(a, 0) * b */
    EW_AXPY_NEG,  /* d += c * a * b where a < 0 */
    EW_AXPY_ROW,  /* d += c * a[i % row] * b (a NULL: ones) */
    EW_ADD_ROW,   /* d += a[i % row] */
    EW_SET_ROW,   /* d = a[i % row] */
    EW_CLAMP_POS, /* d = max(a, 0) */
    EW_CLAMP_NEG, /* d = min(a, 0) */
} EwOp;

typedef struct {
    EwOp op;
    float *d;
    const float *a, *b;
    float c;
    int64_t row;
} EwJob;

static inline float stab_div(float r, float z, float e) {
    float den = z + (z >= 0 ? e : -e);
    return den == 0 ? 0.0f : r / den; /* e = 0 and z = 0: the z-rule's division guard */
}

static int ew_range(void *ctx, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    const EwJob *j = ctx;
    float *restrict d = j->d;
    const float *restrict a = j->a, *restrict b = j->b;
    const float c = j->c;
    switch (j->op) {
    case EW_STABDIV:
        for (int64_t i = lo; i < hi; i++) d[i] = stab_div(a[i], b[i], c);
        break;
    case EW_MUL:
        for (int64_t i = lo; i < hi; i++) d[i] *= a[i];
        break;
    case EW_ADD:
        for (int64_t i = lo; i < hi; i++) d[i] += a[i];
        break;
    case EW_COPY:
        for (int64_t i = lo; i < hi; i++) d[i] = a[i];
        break;
    case EW_AXPY:
        for (int64_t i = lo; i < hi; i++) d[i] += c * a[i] * b[i];
        break;
    case EW_AXPY_POS:
        for (int64_t i = lo; i < hi; i++) d[i] += c * (a[i] > 0 ? a[i] : 0.0f) * b[i];
        break;
    case EW_AXPY_NEG: /* non-negative entries add nothing, not even a signed zero: a chunk
                       * that skips these terms gives the same bits */
        for (int64_t i = lo; i < hi; i++)
            if (a[i] < 0) d[i] += c * a[i] * b[i];
        break;
    case EW_AXPY_ROW:
        for (int64_t i = lo; i < hi; i++) d[i] += c * (a ? a[i % j->row] : 1.0f) * b[i];
        break;
    case EW_ADD_ROW:
        for (int64_t i = lo; i < hi; i++) d[i] += a[i % j->row];
        break;
    case EW_SET_ROW:
        for (int64_t i = lo; i < hi; i++) d[i] = a[i % j->row];
        break;
    case EW_CLAMP_POS:
        for (int64_t i = lo; i < hi; i++) d[i] = a[i] > 0 ? a[i] : 0.0f;
        break;
    case EW_CLAMP_NEG:
        for (int64_t i = lo; i < hi; i++) d[i] = a[i] < 0 ? a[i] : 0.0f;
        break;
    }
    return SN_OK;
}

static int ew(EwOp op, float *d, const float *a, const float *b, float c, int64_t row, int64_t n, int nthreads) {
    EwJob j = {op, d, a, b, c, row};
    return nn_parallel(nthreads, n, 16384, ew_range, &j);
}

/* ---- weighted layers (linear, conv2d) --------------------------------- */

typedef enum { IN_X, IN_XPOS, IN_XNEG, IN_ONES, IN_LOW, IN_HIGH } InMod;

typedef struct {
    InMod in;
    const float *w, *b; /* b may be NULL */
} Term;

typedef struct {
    int nterms;
    Term t[3];
    float coef;
} Group;

typedef struct LrpNode {
    const LrpRule *rule;
    int ngroups;
    Group g[2];
    int z_is_output; /* the epsilon rule: z is the output of node zsrc */
    int zsrc;        /* the node itself, or the batch norm merged into it */
    float *owned;    /* modified weights and biases */
    float *merged;   /* canonisation: weights and bias with the batch norm folded in */
} LrpNode;

/* What the kernels need to run one weighted node on a chunk. */
typedef struct {
    int conv;
    Conv2dGeom g;
    int64_t n, in_row, out_row;
    int in_f, out_f;
} Wgeo;

static void wgeo(Wgeo *G, const Node *n, const Tensor *x) {
    memset(G, 0, sizeof *G);
    G->conv = n->kind == LAYER_CONV2D;
    G->n = x->shape[0];
    G->in_row = tensor_row_numel(x);
    if (G->conv) {
        Shape s = shape_of(x);
        conv2d_geom(&G->g, &n->cfg, &s);
        G->out_row = (int64_t)G->g.oc * G->g.oh * G->g.ow;
    } else {
        G->in_f = n->cfg.in, G->out_f = n->cfg.out;
        G->out_row = G->out_f;
    }
}

static int w_forward(const Wgeo *G, int64_t n, float *out, const float *x, const float *w, const float *b,
                     int nthreads) {
    if (!G->conv) return linear_forward(out, x, w, b, n, G->in_f, G->out_f, nthreads);
    Conv2dGeom g = G->g;
    g.n = n;
    return conv2d_forward(out, x, w, b, &g, nthreads);
}

static int w_backward(const Wgeo *G, float *dx, const float *dout, const float *w, int nthreads) {
    if (!G->conv) return linear_backward_input(dx, dout, w, G->n, G->in_f, G->out_f, nthreads);
    return conv2d_backward_input(dx, dout, w, &G->g, nthreads);
}

/* Folds batch norm node bn (eval: y = a*x + c per channel) into the
 * weighted node n before it: W' = a W (per output), b' = a b + c. */
static int merge_batchnorm(LrpNode *ln, const Node *n, const Node *bn) {
    int64_t nw = tensor_numel(&n->param[0]), nout = n->cfg.out, per = nw / nout;
    float *o = malloc(sizeof(float) * (size_t)(nw + nout));
    if (!o) return sn_errorf("out of memory");
    ln->merged = o;
    const float *W = tensor_data(&n->param[0]), *B = n->nparams > 1 ? tensor_data(&n->param[1]) : NULL;
    const float *g = tensor_data(&bn->param[0]), *be = tensor_data(&bn->param[1]);
    const float *rm = tensor_data(&bn->buffer[0]), *rv = tensor_data(&bn->buffer[1]);
    for (int64_t c = 0; c < nout; c++) {
        /* the same arithmetic as batchnorm_forward_eval */
        float a = (float)(1.0 / sqrt((double)rv[c] + (double)bn->cfg.eps)) * g[c];
        for (int64_t i = 0; i < per; i++) o[c * per + i] = W[c * per + i] * a;
        o[nw + c] = (B ? B[c] * a : 0.0f) + (be[c] - rm[c] * a);
    }
    return SN_OK;
}

/* Builds the terms of a weighted node's rule; modified weights in ln->owned. */
static int setup_weighted(LrpNode *ln, const Node *n) {
    const LrpRule *r = ln->rule;
    const float *W = tensor_data(&n->param[0]), *B = n->nparams > 1 ? tensor_data(&n->param[1]) : NULL;
    int64_t nw = tensor_numel(&n->param[0]), nb = B ? tensor_numel(&n->param[1]) : 0;
    if (ln->merged) W = ln->merged, B = ln->merged + nw, nb = n->cfg.out;
    ln->ngroups = 1;
    ln->g[0].coef = 1;
    ln->g[0].nterms = 1;
    if (r->kind == LRP_EPSILON) {
        ln->g[0].t[0] = (Term){IN_X, W, B};
        ln->z_is_output = 1;
        return SN_OK;
    }
    float *o = malloc(sizeof(float) * (size_t)(2 * (nw + nb) + 1));
    if (!o) return sn_errorf("out of memory");
    ln->owned = o;
    float *w1 = o, *w2 = o + nw, *b1 = o + 2 * nw, *b2 = b1 + nb;
    switch (r->kind) {
    case LRP_GAMMA:
        for (int64_t i = 0; i < nw; i++) w1[i] = W[i] + r->gamma * (W[i] > 0 ? W[i] : 0.0f);
        for (int64_t i = 0; i < nb; i++) b1[i] = B[i] + r->gamma * (B[i] > 0 ? B[i] : 0.0f);
        ln->g[0].t[0] = (Term){IN_X, w1, B ? b1 : NULL};
        break;
    case LRP_ZPLUS:
        for (int64_t i = 0; i < nw; i++) w1[i] = W[i] > 0 ? W[i] : 0.0f;
        ln->g[0].t[0] = (Term){IN_X, w1, NULL};
        break;
    case LRP_ALPHA_BETA:
        for (int64_t i = 0; i < nw; i++) w1[i] = W[i] > 0 ? W[i] : 0.0f, w2[i] = W[i] < 0 ? W[i] : 0.0f;
        for (int64_t i = 0; i < nb; i++) b1[i] = B[i] > 0 ? B[i] : 0.0f, b2[i] = B[i] < 0 ? B[i] : 0.0f;
        ln->g[0] = (Group){2, {{IN_XPOS, w1, B ? b1 : NULL}, {IN_XNEG, w2, NULL}}, r->alpha};
        if (r->beta != 0) {
            ln->ngroups = 2;
            ln->g[1] = (Group){2, {{IN_XPOS, w2, B ? b2 : NULL}, {IN_XNEG, w1, NULL}}, -r->beta};
        }
        break;
    case LRP_ZBOX:
        for (int64_t i = 0; i < nw; i++) w1[i] = W[i] > 0 ? -W[i] : 0.0f, w2[i] = W[i] < 0 ? -W[i] : 0.0f;
        ln->g[0] = (Group){3, {{IN_X, W, NULL}, {IN_LOW, w1, NULL}, {IN_HIGH, w2, NULL}}, 1};
        break;
    case LRP_FLAT:
        for (int64_t i = 0; i < nw; i++) w1[i] = 1;
        ln->g[0].t[0] = (Term){IN_ONES, w1, NULL};
        break;
    case LRP_W_SQUARE:
        for (int64_t i = 0; i < nw; i++) w1[i] = W[i] * W[i];
        ln->g[0].t[0] = (Term){IN_ONES, w1, NULL};
        break;
    default:
        break;
    }
    return SN_OK;
}

/* The per-sample input of an IN_ONES/IN_LOW/IN_HIGH term into buf[row]. */
static int term_sample(const LrpRule *r, InMod in, int64_t row, float *buf) {
    const Tensor *t = in == IN_LOW ? r->low_t : in == IN_HIGH ? r->high_t : NULL;
    float v = in == IN_LOW ? r->low : in == IN_HIGH ? r->high : 1.0f;
    if (!t) {
        for (int64_t i = 0; i < row; i++) buf[i] = v;
        return SN_OK;
    }
    if (tensor_numel(t) != row) {
        char s[128];
        return sn_errorf("LRP rule 'zbox': the %s bound %s has %lld elements, the layer's input has %lld per sample",
                         in == IN_LOW ? "low" : "high", tensor_shape_str(t, s, sizeof s), (long long)tensor_numel(t),
                         (long long)row);
    }
    memcpy(buf, tensor_data(t), sizeof(float) * (size_t)row);
    return SN_OK;
}

static int rule_weighted(const LrpNode *ln, const Node *n, const Tensor *xin, const Tensor *out, const Tensor *R,
                         Tensor *din, int nthreads) {
    Wgeo G;
    wgeo(&G, n, xin);
    const int64_t N = G.n, nin = N * G.in_row, nout = N * G.out_row;
    const float *x = tensor_data(xin), *r = tensor_data(R);
    float *dx = tensor_data(din);
    const float eps = ln->rule->epsilon;
    int single = ln->ngroups == 1 && ln->g[0].nterms == 1 && ln->g[0].t[0].in == IN_X && ln->g[0].coef == 1;
    int uses_neg = ln->rule->kind == LRP_ALPHA_BETA, has_neg = 0;
    if (uses_neg)
        for (int64_t i = 0; i < nin && !has_neg; i++) has_neg = x[i] < 0;
    /* scratch, only what the rule uses (big planes cost page faults):
     * s [nout]; z [nout] unless z is an output; a second z [nout] when a
     * group has several terms; the modified input [nin] for alpha-beta; the
     * gradient of one term [nin] unless single; one sample in and out */
    int multi = 0, mod_in = ln->rule->kind == LRP_ALPHA_BETA;
    for (int gi = 0; gi < ln->ngroups; gi++) multi |= ln->g[gi].nterms > 1;
    int64_t nz = ln->z_is_output ? 0 : nout, nz2 = multi ? nout : 0, nxm = mod_in ? nin : 0, nc = single ? 0 : nin;
    int64_t nsample = single ? 0 : G.in_row + G.out_row;
    float *buf = malloc(sizeof(float) * (size_t)(nout + nz + nz2 + nxm + nc + nsample));
    if (!buf) return sn_errorf("out of memory");
    float *s = buf, *z = s + nout, *z2 = z + nz, *xm = z2 + nz2, *c = xm + nxm;
    float *one = c + nc, *one_out = one + G.in_row;
    int rc = SN_OK;
    for (int gi = 0; gi < ln->ngroups && rc == SN_OK; gi++) {
        const Group *g = &ln->g[gi];
        const float *zz = z;
        if (ln->z_is_output) {
            zz = tensor_data(out); /* this node's output, or the merged batch norm's */
        } else {
            int first = 1;
            for (int k = 0; k < g->nterms && rc == SN_OK; k++) {
                const Term *t = &g->t[k];
                if (t->in == IN_XNEG && !has_neg) continue; /* an all-zero input adds exact zeros */
                if (t->in <= IN_XNEG) {
                    const float *src = x;
                    if (t->in != IN_X) {
                        rc = ew(t->in == IN_XPOS ? EW_CLAMP_POS : EW_CLAMP_NEG, xm, x, NULL, 0, 0, nin, nthreads);
                        src = xm;
                    }
                    if (rc == SN_OK) rc = w_forward(&G, N, first ? z : z2, src, t->w, t->b, nthreads);
                    if (rc == SN_OK && !first) rc = ew(EW_ADD, z, z2, NULL, 0, 0, nout, nthreads);
                } else { /* the same input for every sample: one forward, broadcast */
                    rc = term_sample(ln->rule, t->in, G.in_row, one);
                    if (rc == SN_OK) rc = w_forward(&G, 1, one_out, one, t->w, t->b, nthreads);
                    if (rc == SN_OK)
                        rc = ew(first ? EW_SET_ROW : EW_ADD_ROW, z, one_out, NULL, 0, G.out_row, nout, nthreads);
                }
                first = 0;
            }
        }
        if (rc == SN_OK) rc = ew(EW_STABDIV, s, r, zz, eps, 0, nout, nthreads);
        if (rc != SN_OK) break;
        if (single) { /* the common case: straight into d_in, then times the input */
            rc = w_backward(&G, dx, s, g->t[0].w, nthreads);
            if (rc == SN_OK) rc = ew(EW_MUL, dx, x, NULL, 0, 0, nin, nthreads);
            break;
        }
        for (int k = 0; k < g->nterms && rc == SN_OK; k++) {
            const Term *t = &g->t[k];
            if (t->in == IN_XNEG && !has_neg) continue;
            memset(c, 0, sizeof(float) * (size_t)nin);
            rc = w_backward(&G, c, s, t->w, nthreads);
            if (rc != SN_OK) break;
            if (t->in == IN_X)
                rc = ew(EW_AXPY, dx, x, c, g->coef, 0, nin, nthreads);
            else if (t->in == IN_XPOS)
                rc = ew(EW_AXPY_POS, dx, x, c, g->coef, 0, nin, nthreads);
            else if (t->in == IN_XNEG)
                rc = ew(EW_AXPY_NEG, dx, x, c, g->coef, 0, nin, nthreads);
            else {
                rc = term_sample(ln->rule, t->in, G.in_row, one);
                if (rc == SN_OK)
                    rc = ew(EW_AXPY_ROW, dx, t->in == IN_ONES ? NULL : one, c, g->coef, G.in_row, nin, nthreads);
            }
        }
    }
    free(buf);
    return rc;
}

/* ---- other nodes -------------------------------------------------------- */

static void pool_of(PoolGeom *g, const Node *n, LayerKind as, const Tensor *x) {
    Shape s = shape_of(x);
    pool_geom(g, &n->cfg, as, &s);
}

/* epsilon rule of avgpool2d / adaptive_avgpool2d, and the proportional rule
 * of maxpool2d (its windows as a sum pool; the stabiliser acts on the mean). */
static int rule_pool(const LrpNode *ln, const Node *n, const Tensor *xin, const Tensor *out, const Tensor *R,
                     Tensor *din, int nthreads) {
    PoolGeom g;
    int adaptive = n->kind == LAYER_ADAPTIVE_AVGPOOL2D;
    pool_of(&g, n, adaptive ? LAYER_ADAPTIVE_AVGPOOL2D : LAYER_AVGPOOL2D, xin);
    int64_t nout = tensor_numel(out);
    float *buf = malloc(sizeof(float) * (size_t)(2 * nout));
    if (!buf) return sn_errorf("out of memory");
    float *z = buf, *s = buf + nout;
    const float *x = tensor_data(xin);
    int rc = SN_OK;
    if (n->kind == LAYER_MAXPOOL2D)
        rc = avgpool2d_forward(z, x, &g, nthreads);
    else
        memcpy(z, tensor_data(out), sizeof(float) * (size_t)nout);
    if (rc == SN_OK) rc = ew(EW_STABDIV, s, tensor_data(R), z, ln->rule->epsilon, 0, nout, nthreads);
    if (rc == SN_OK)
        rc = adaptive ? adaptive_avgpool2d_backward(tensor_data(din), s, &g, nthreads)
                      : avgpool2d_backward(tensor_data(din), s, &g, nthreads);
    if (rc == SN_OK) rc = ew(EW_MUL, tensor_data(din), x, NULL, 0, 0, tensor_numel(xin), nthreads);
    free(buf);
    return rc;
}

/* batch norm (eval, y = k x + c per channel) and add, each in one pass
 * over its planes: the epsilon rule's quotient, times the weight and input. */
typedef struct {
    float *dx0, *dx1;
    const float *x0, *x1, *r, *z, *k; /* k: per-channel scale (batch norm) */
    int64_t c, s;                     /* channels, elements per channel plane */
    float eps;
} FusedJob;

static int bn_range(void *ctx, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    const FusedJob *j = ctx;
    for (int64_t p = lo; p < hi; p++) { /* plane p = sample * C + channel */
        const float k = j->k[p % j->c];
        const int64_t o = p * j->s;
        for (int64_t i = o; i < o + j->s; i++) j->dx0[i] = stab_div(j->r[i], j->z[i], j->eps) * k * j->x0[i];
    }
    return SN_OK;
}

static int add_range(void *ctx, int64_t lo, int64_t hi, int worker) {
    (void)worker;
    const FusedJob *j = ctx;
    for (int64_t i = lo; i < hi; i++) {
        float q = stab_div(j->r[i], j->z[i], j->eps);
        j->dx0[i] += j->x0[i] * q;
        j->dx1[i] += j->x1[i] * q;
    }
    return SN_OK;
}

static int rule_batchnorm(const LrpNode *ln, const Node *n, const Tensor *xin, const Tensor *out, const Tensor *R,
                          Tensor *din, int nthreads) {
    int64_t N = xin->shape[0], C = xin->shape[1], S = shape_numel(xin->ndim - 2, xin->shape + 2);
    float *k = malloc(sizeof(float) * (size_t)C);
    if (!k) return sn_errorf("out of memory");
    const float *g = tensor_data(&n->param[0]), *rv = tensor_data(&n->buffer[1]);
    for (int64_t c = 0; c < C; c++) /* as batchnorm_backward_eval */
        k[c] = (float)(1.0 / sqrt((double)rv[c] + (double)n->cfg.eps)) * g[c];
    FusedJob j = {.dx0 = tensor_data(din),
                  .x0 = tensor_data(xin),
                  .r = tensor_data(R),
                  .z = tensor_data(out),
                  .k = k,
                  .c = C,
                  .s = S,
                  .eps = ln->rule->epsilon};
    int64_t grain = (16384 + S - 1) / S;
    int rc = nn_parallel(nthreads, N * C, grain, bn_range, &j);
    free(k);
    return rc;
}

static int rule_add(const LrpNode *ln, const Tensor *const *in, const Tensor *out, const Tensor *R, Tensor *const *din,
                    int nthreads) {
    FusedJob j = {.dx0 = tensor_data(din[0]),
                  .dx1 = tensor_data(din[1]),
                  .x0 = tensor_data(in[0]),
                  .x1 = tensor_data(in[1]),
                  .r = tensor_data(R),
                  .z = tensor_data(out),
                  .eps = ln->rule->epsilon};
    return nn_parallel(nthreads, tensor_numel(out), 16384, add_range, &j);
}

static int lrp_backward(void *ctx, const Model *m, int node, const Tensor *const *in, const Tensor *output,
                        const Tensor *d_out, Tensor *const *d_in, int nthreads) {
    const LrpNode *ln = ctx;
    const Node *n = &m->nodes[node];
    const Tensor *z = ln->zsrc == node ? output : &m->nodes[ln->zsrc].output; /* canonised: the batch norm's */
    switch (ln->rule->kind) {
    case LRP_PASS:
        return ew(EW_COPY, tensor_data(d_in[0]), tensor_data(d_out), NULL, 0, 0, tensor_numel(d_out), nthreads);
    case LRP_WINNER_TAKE_ALL: {
        PoolGeom g;
        pool_of(&g, n, LAYER_MAXPOOL2D, in[0]);
        return maxpool2d_backward(tensor_data(d_in[0]), tensor_data(d_out), tensor_data(&n->saved), &g, nthreads);
    }
    case LRP_PROPORTIONAL:
        return rule_pool(ln, n, in[0], output, d_out, d_in[0], nthreads);
    case LRP_EPSILON:
        switch (n->kind) {
        case LAYER_AVGPOOL2D:
        case LAYER_ADAPTIVE_AVGPOOL2D:
            return rule_pool(ln, n, in[0], output, d_out, d_in[0], nthreads);
        case LAYER_BATCHNORM1D:
        case LAYER_BATCHNORM2D:
            return rule_batchnorm(ln, n, in[0], output, d_out, d_in[0], nthreads);
        case LAYER_ADD:
            return rule_add(ln, in, output, d_out, d_in, nthreads);
        default:
            break; /* linear, conv2d */
        }
        return rule_weighted(ln, n, in[0], z, d_out, d_in[0], nthreads);
    default:
        return rule_weighted(ln, n, in[0], z, d_out, d_in[0], nthreads);
    }
}

int lrp_canonize_pairs(const Model *m, int *bn_of) {
    int count = 0;
    for (int i = 0; i < m->nnodes; i++) bn_of[i] = -1;
    for (int j = 0; j < m->nnodes; j++) {
        const Node *bn = &m->nodes[j];
        int w = bn->inputs[0];
        if ((bn->kind != LAYER_BATCHNORM1D && bn->kind != LAYER_BATCHNORM2D) || w == MODEL_INPUT) continue;
        LayerKind k = m->nodes[w].kind;
        if ((k != LAYER_LINEAR && k != LAYER_CONV2D) || (k == LAYER_LINEAR && bn->kind != LAYER_BATCHNORM1D) ||
            (k == LAYER_CONV2D && bn->kind != LAYER_BATCHNORM2D))
            continue;
        int consumers = 0; /* the layer's output must feed the batch norm only */
        for (int i = 0; i < m->nnodes; i++)
            for (int q = 0; q < m->nodes[i].ninputs; q++) consumers += m->nodes[i].inputs[q] == w;
        if (consumers == 1) bn_of[w] = j, count++;
    }
    return count;
}

/* ---- the driver --------------------------------------------------------- */

int attr_lrp(const AttrRun *r, const Tensor *x, const float *targets, const LrpRule *rules, int canonize, Tensor *out) {
    Model *m = r->model;
    int nn = m->nnodes, rc = SN_OK;
    int64_t n = x->shape[0], row = tensor_row_numel(x);
    memset(out, 0, sizeof *out);
    static const LrpRule pass = {.kind = LRP_PASS};
    LrpNode *nodes = calloc((size_t)nn, sizeof *nodes);
    BackwardRule *br = calloc((size_t)nn, sizeof *br);
    int *bn_of = calloc((size_t)nn, sizeof *bn_of);
    if (!nodes || !br || !bn_of) rc = sn_errorf("out of memory");
    if (rc == SN_OK && canonize) lrp_canonize_pairs(m, bn_of);
    for (int i = 0; i < nn && rc == SN_OK; i++) {
        nodes[i].rule = &rules[i];
        nodes[i].zsrc = i;
        br[i] = (BackwardRule){lrp_backward, &nodes[i]};
    }
    for (int i = 0; i < nn && rc == SN_OK; i++) {
        LayerKind k = m->nodes[i].kind;
        if (k != LAYER_LINEAR && k != LAYER_CONV2D) continue;
        if (canonize && bn_of[i] >= 0) {
            rc = merge_batchnorm(&nodes[i], &m->nodes[i], &m->nodes[bn_of[i]]);
            nodes[i].zsrc = bn_of[i];
            nodes[bn_of[i]].rule = &pass; /* its relevance goes straight to the merged layer */
        }
        if (rc == SN_OK) rc = setup_weighted(&nodes[i], &m->nodes[i]);
    }
    if (rc == SN_OK) rc = tensor_init_like(out, x);
    float *d = NULL;
    for (int64_t s = 0; s < n && rc == SN_OK; s += r->chunk) {
        int64_t len = n - s < r->chunk ? n - s : r->chunk;
        Tensor part, logits = {0}, r0 = {0}, rin = {0};
        if ((rc = tensor_narrow(&part, x, s, len)) != SN_OK) break;
        rc = model_forward(m, &part, &logits, r->nthreads);
        tensor_release(&part);
        if (rc == SN_OK && logits.ndim != 2) {
            char b[128];
            rc = sn_errorf("attribution needs a model whose output is [N, classes], got %s",
                           tensor_shape_str(&logits, b, sizeof b));
        }
        int64_t k = rc == SN_OK ? logits.shape[1] : 0;
        if (rc == SN_OK && s == 0) rc = attr_check_targets(targets, n, k); /* all at once: sample numbers as given */
        if (rc == SN_OK && !d && !(d = malloc(sizeof(float) * (size_t)k))) rc = sn_errorf("out of memory");
        if (rc == SN_OK) rc = tensor_init_like(&r0, &logits);
        for (int64_t i = 0; i < len && rc == SN_OK; i++) {
            float score;
            int t = (int)targets[s + i];
            attr_output_grad(r->output, tensor_data(&logits) + i * k, k, t, d, &score);
            tensor_data(&r0)[i * k + t] = score; /* the relevance starts as the score at the target */
        }
        if (rc == SN_OK) rc = model_backward(m, &r0, br, 0, &rin, r->nthreads);
        if (rc == SN_OK) memcpy(tensor_data(out) + s * row, tensor_data(&rin), sizeof(float) * (size_t)(len * row));
        tensor_release(&rin);
        tensor_release(&r0);
        tensor_release(&logits);
    }
    free(d);
    for (int i = 0; nodes && i < nn; i++) free(nodes[i].owned), free(nodes[i].merged);
    free(nodes);
    free(bn_of);
    free(br);
    if (rc != SN_OK) tensor_release(out);
    return rc;
}
