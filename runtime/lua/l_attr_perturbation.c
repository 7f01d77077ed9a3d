/* l_attr_perturbation.c — bindings of the perturbation family
 * (attr/perturb.h, attr/segment.h). Common arguments and options: l_attr.h.
 *
 *   attr.segments(x, opts) -> [N, 1, H, W] segment ids (0-based, as floats)
 *       x [N, C, H, W]; kind = "grid" (default) | "slic"
 *       grid: cell = 4 (or {h, w}); the last cells may be smaller
 *       slic: n_segments = 50, compactness = 10 (skimage's default and
 *             meaning; ~0.1-1 follows edges of images scaled to [0, 1]),
 *             max_iter = 10, connectivity = true, min_size_factor = 0.5
 *   attr.occlusion(model, x, target, opts)        x [N, C, H, W]
 *       patch = 4 (or {h, w}), stride = max(1, patch // 2) (or {h, w})
 *   attr.feature_ablation(model, x, target, opts)
 *   attr.lime(model, x, target, opts)
 *       n_samples = 1000, kernel_width = 0.25, alpha = 1: the lime package's
 *       LimeImageExplainer defaults (cosine distance between the on/off
 *       vector and all-ones, Ridge(alpha=1), first sample = the image);
 *       Captum's Lime uses kernel_width 1 on the inputs and a Lasso
 *   attr.kernel_shap(model, x, target, opts)
 *       n_samples = 1000 (shap's "auto" is 2 M + 2048), exact = false
 *   attr.rise(model, x, target, opts)             x [N, C, H, W]
 *       n_masks = 1000 (the paper used 4000-8000 on ImageNet), cell = 4
 *       (or {h, w}), p = 0.5
 * Shared options:
 *   baseline   0 (default) | a number | "blur" | "mean" | a tensor shaped
 *              like x or like one sample: what removed elements become
 *   blur_sigma 2: the Gaussian's standard deviation (pixels) for "blur"
 *   segments   (feature_ablation, lime, kernel_shap) a tensor of ids: per
 *              sample when its first dimension is N ([N, 1, H, W], [N, H, W]
 *              or [N, C, H, W] for one id per element), else one
 *              segmentation for every sample ([1, 1, H, W], [H, W], ...);
 *              or a table of attr.segments options; default: a grid of
 *              4 x 4 cells for images, one segment per element otherwise.
 * Results are shaped like x (segment values painted over all channels).
 * LIME and KernelSHAP log (sanity.log, silent with --quiet) when a
 * regression was singular and had to be regularized. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attr/perturb.h"
#include "attr/segment.h"
#include "error.h"
#include "lua/l_attr.h"
#include "lua/l_util.h"

#define OPTS 4 /* stack index of the option table of attr.<method>(model, x, target, opts) */

static const char *const segment_kinds[] = {"grid", "slic", NULL};
static const char *const segment_keys[] = {"kind",     "cell",         "n_segments",      "compactness",
                                           "max_iter", "connectivity", "min_size_factor", NULL};

/* ---- option helpers ----------------------------------------------------- */

/* An integer or {h, w} option (ranges are checked by the caller). */
static void opt_pair(lua_State *L, int idx, const char *name, int64_t def0, int64_t def1, int64_t out[2]) {
    out[0] = def0, out[1] = def1;
    if (!lua_istable(L, idx)) return;
    int t = lua_getfield(L, idx, name);
    if (t == LUA_TNUMBER) {
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok) l_opterror(L, idx, name, "integer or {h, w} expected, got a non-integer number");
        out[0] = out[1] = v;
    } else if (t == LUA_TTABLE && luaL_len(L, -1) == 2) {
        for (int k = 0; k < 2; k++) {
            lua_geti(L, -1, k + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok) l_opterror(L, idx, name, "integer or {h, w} of integers expected");
            out[k] = v;
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        l_opterror(L, idx, name, lua_pushfstring(L, "integer or {h, w} expected, got %s", luaL_typename(L, -1)));
    }
    lua_pop(L, 1);
}

static void check_images(lua_State *L, const Tensor *x, const char *what) {
    if (x->ndim != 4) {
        char s[128];
        luaL_argerror(
            L, 2, lua_pushfstring(L, "%s needs images [N, C, H, W], got %s", what, tensor_shape_str(x, s, sizeof s)));
    }
}

/* A window (patch, cell) must fit the image. */
static void check_window(lua_State *L, int idx, const char *name, const int64_t v[2], const Tensor *x) {
    if (v[0] < 1 || v[1] < 1)
        l_opterror(L, idx, name, lua_pushfstring(L, "sizes must be >= 1, got %d x %d", (int)v[0], (int)v[1]));
    if (v[0] > x->shape[2] || v[1] > x->shape[3])
        l_opterror(L, idx, name,
                   lua_pushfstring(L, "%d x %d is larger than the %d x %d image", (int)v[0], (int)v[1],
                                   (int)x->shape[2], (int)x->shape[3]));
}

/* Segmentation options of the table at idx, validated against x. */
static void segment_opts(lua_State *L, int idx, const Tensor *x, SegmentOptions *o) {
    l_checkoptkeys(L, idx, segment_keys);
    memset(o, 0, sizeof *o);
    o->kind = (SegmentKind)l_optchoice(L, idx, "kind", "grid", segment_kinds);
    int64_t h = x->shape[2], w = x->shape[3];
    opt_pair(L, idx, "cell", h < 4 ? h : 4, w < 4 ? w : 4, o->cell);
    check_window(L, idx, "cell", o->cell, x);
    o->slic.n_segments = l_optinteger(L, idx, "n_segments", 50);
    o->slic.compactness = l_optnumber(L, idx, "compactness", 10);
    o->slic.max_iter = (int)l_optinteger(L, idx, "max_iter", 10);
    o->slic.connectivity = l_optbool(L, idx, "connectivity", 1);
    o->slic.min_size_factor = l_optnumber(L, idx, "min_size_factor", 0.5);
    if (o->slic.n_segments < 1) l_opterror(L, idx, "n_segments", "must be >= 1");
    if (o->slic.n_segments > h * w)
        l_opterror(L, idx, "n_segments",
                   lua_pushfstring(L, "%d is more segments than the %d pixels of a %d x %d image",
                                   (int)o->slic.n_segments, (int)(h * w), (int)h, (int)w));
    if (!(o->slic.compactness > 0) || !isfinite(o->slic.compactness)) l_opterror(L, idx, "compactness", "must be > 0");
    if (o->slic.max_iter < 1) l_opterror(L, idx, "max_iter", "must be >= 1");
    if (!(o->slic.min_size_factor >= 0 && o->slic.min_size_factor <= 1))
        l_opterror(L, idx, "min_size_factor", "must be in [0, 1]");
}

/* What the option table asks for, parsed BEFORE l_attr_args switches the
 * model to eval mode (so a bad option raises with nothing to restore). */
typedef struct Parsed {
    Baseline baseline;
    const Tensor *baseline_t; /* user tensor, viewed as [k, row] after l_attr_args */
    const Tensor *segments_t; /* user ids */
    int segments_table;       /* segments = {...}: computed after l_attr_args */
    SegmentOptions seg;
} Parsed;

static void parse_baseline(lua_State *L, const Tensor *x, Parsed *p) {
    p->baseline = (Baseline){BASELINE_VALUE, 0.0f, NULL, 2.0};
    p->baseline.sigma = l_optnumber(L, OPTS, "blur_sigma", 2.0);
    if (!(p->baseline.sigma > 0) || !isfinite(p->baseline.sigma)) l_opterror(L, OPTS, "blur_sigma", "must be > 0");
    if (!lua_istable(L, OPTS)) return;
    int t = lua_getfield(L, OPTS, "baseline");
    if (t == LUA_TNUMBER) {
        p->baseline.value = (float)lua_tonumber(L, -1);
    } else if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (strcmp(s, "blur") == 0) {
            if (x->ndim != 4) l_opterror(L, OPTS, "baseline", "\"blur\" needs images [N, C, H, W]");
            p->baseline.kind = BASELINE_BLUR;
        } else if (strcmp(s, "mean") == 0) {
            p->baseline.kind = BASELINE_MEAN;
        } else {
            l_opterror(L, OPTS, "baseline",
                       lua_pushfstring(L, "unknown value '%s' (a number, \"blur\", \"mean\" or a tensor)", s));
        }
    } else if (t != LUA_TNIL) {
        Tensor *b = l_testtensor(L, -1);
        if (!b || !b->storage) l_opterror(L, OPTS, "baseline", "a number, \"blur\", \"mean\" or a tensor expected");
        int64_t row = tensor_row_numel(x), n = tensor_numel(b);
        if (n != row && n != x->shape[0] * row) {
            char a[128], s[128];
            l_opterror(L, OPTS, "baseline",
                       lua_pushfstring(L, "tensor %s fits neither x %s nor one of its samples",
                                       tensor_shape_str(b, s, sizeof s), tensor_shape_str(x, a, sizeof a)));
        }
        p->baseline.kind = BASELINE_TENSOR;
        p->baseline_t = b;
    }
    lua_pop(L, 1);
}

static void parse_segments(lua_State *L, const Tensor *x, Parsed *p) {
    if (!lua_istable(L, OPTS)) return;
    int t = lua_getfield(L, OPTS, "segments");
    if (t == LUA_TTABLE) {
        check_images(L, x, "segments = {...}");
        lua_pushvalue(L, -1);
        int idx = lua_gettop(L);
        segment_opts(L, idx, x, &p->seg);
        lua_pop(L, 1);
        p->segments_table = 1;
    } else if (t != LUA_TNIL) {
        Tensor *s = l_testtensor(L, -1);
        if (!s || !s->storage)
            l_opterror(L, OPTS, "segments", "a tensor of segment ids or a table of attr.segments options expected");
        int64_t row = tensor_row_numel(x), n = x->shape[0], c = x->ndim >= 3 ? x->shape[1] : 1, k = tensor_numel(s);
        int per_sample = n > 1 && s->shape[0] == n && (k == n * row || k == n * (row / c));
        if (!per_sample && k != row && k != row / c) {
            char a[128], b[128];
            l_opterror(L, OPTS, "segments",
                       lua_pushfstring(
                           L, "ids %s fit neither x %s (one id per element or per position, for one or every sample)",
                           tensor_shape_str(s, b, sizeof b), tensor_shape_str(x, a, sizeof a)));
        }
        const float *v = tensor_data(s);
        for (int64_t i = 0; i < k; i++)
            if (!(v[i] >= 0 && v[i] < 16777216.0f) || v[i] != floorf(v[i]))
                l_opterror(L, OPTS, "segments",
                           lua_pushfstring(L, "ids must be non-negative integers, found %f at element %d", (double)v[i],
                                           (int)i + 1));
        p->segments_t = s;
    }
    lua_pop(L, 1);
}

/* Pushes t viewed as [1, row] (one sample's worth) or [N, row]. */
static const Tensor *push_rows(lua_State *L, AttrCall *c, const Tensor *t) {
    int64_t row = tensor_row_numel(c->x), shape[2] = {tensor_numel(t) / row, row};
    Tensor v;
    if (tensor_reshape(&v, t, 2, shape) != SN_OK) l_attr_fail(L, c);
    return l_pushtensor_move(L, &v);
}

/* After l_attr_args: pushes the segment ids the method uses and returns them. */
static const Tensor *resolve_segments(lua_State *L, AttrCall *c, const Parsed *p) {
    const Tensor *x = c->x;
    int64_t row = tensor_row_numel(x), n = x->shape[0];
    if (p->segments_t) {
        int64_t k = tensor_numel(p->segments_t), c1 = x->ndim >= 3 ? x->shape[1] : 1;
        int per_sample = n > 1 && p->segments_t->shape[0] == n && (k == n * row || k == n * (row / c1));
        int64_t shape[2] = {per_sample ? n : 1, per_sample ? k / n : k};
        Tensor v;
        if (tensor_reshape(&v, p->segments_t, 2, shape) != SN_OK) l_attr_fail(L, c);
        return l_pushtensor_move(L, &v);
    }
    Tensor s;
    if (p->segments_table) {
        if (segment_batch(x, &p->seg, c->run.nthreads, &s) != SN_OK) l_attr_fail(L, c);
        return l_pushtensor_move(L, &s);
    }
    if (x->ndim == 4) { /* default: one 4 x 4 grid for every image */
        int64_t h = x->shape[2], w = x->shape[3], shape[2] = {1, h * w};
        int32_t *lab = (int32_t *)lua_newuserdatauv(L, sizeof(int32_t) * (size_t)(h * w), 0);
        segment_grid(h, w, h < 4 ? h : 4, w < 4 ? w : 4, lab);
        if (tensor_init(&s, 2, shape) != SN_OK) l_attr_fail(L, c);
        for (int64_t e = 0; e < h * w; e++) tensor_data(&s)[e] = (float)lab[e];
        lua_pop(L, 1);
        return l_pushtensor_move(L, &s);
    }
    int64_t shape[2] = {1, row}; /* other shapes: one segment per element */
    if (tensor_init(&s, 2, shape) != SN_OK) l_attr_fail(L, c);
    for (int64_t e = 0; e < row; e++) tensor_data(&s)[e] = (float)e;
    return l_pushtensor_move(L, &s);
}

static void resolve_baseline(lua_State *L, AttrCall *c, Parsed *p) {
    if (p->baseline.kind == BASELINE_TENSOR) p->baseline.tensor = push_rows(L, c, p->baseline_t);
}

/* Logs a singular-regression warning through sanity.log (quiet-aware). */
static void report(lua_State *L, const char *method, const PerturbReport *r) {
    if (r->nsingular == 0) return;
    Session *s = l_session(L);
    if (s && s->quiet) return;
    lua_getglobal(L, "sanity");
    if (lua_istable(L, -1) && lua_getfield(L, -1, "log") == LUA_TFUNCTION) {
        char msg[320];
        snprintf(msg, sizeof msg,
                 "warning: %s: the weighted regression of %lld sample(s) was singular or ill-conditioned (first: "
                 "sample %lld); regularized with a ridge of %.3g (more n_samples%s help)",
                 method, (long long)r->nsingular, (long long)r->first_singular + 1, r->ridge,
                 strcmp(method, "lime") == 0 ? " or alpha > 0" : "");
        lua_pushstring(L, msg);
        lua_call(L, 1, 0);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 2);
    }
}

static int64_t opt_count(lua_State *L, const char *name, int64_t def) {
    lua_Integer v = l_optinteger(L, OPTS, name, def);
    if (v < 1) l_opterror(L, OPTS, name, "must be a positive integer");
    return v;
}

/* ---- attr.segments ------------------------------------------------------- */

static int l_attr_segments(lua_State *L) {
    Tensor *x = l_checktensor(L, 1);
    check_images(L, x, "attr.segments");
    if (x->shape[0] < 1 || x->shape[2] < 1 || x->shape[3] < 1) luaL_argerror(L, 1, "empty images");
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    SegmentOptions o;
    segment_opts(L, 2, x, &o);
    Tensor out;
    Session *s = l_session(L);
    if (segment_batch(x, &o, s ? s->nthreads : 1, &out) != SN_OK) l_raise(L);
    l_pushtensor_move(L, &out);
    return 1;
}

/* ---- methods ------------------------------------------------------------------ */

static const char *const occlusion_opts[] = {"patch", "stride", "baseline", "blur_sigma", NULL};

static int l_attr_occlusion(lua_State *L) {
    Tensor *x = l_checktensor(L, 2);
    check_images(L, x, "occlusion");
    Parsed p = {0};
    OcclusionOptions o;
    parse_baseline(L, x, &p);
    opt_pair(L, OPTS, "patch", 4, 4, o.patch);
    check_window(L, OPTS, "patch", o.patch, x);
    opt_pair(L, OPTS, "stride", o.patch[0] / 2 > 1 ? o.patch[0] / 2 : 1, o.patch[1] / 2 > 1 ? o.patch[1] / 2 : 1,
             o.stride);
    if (o.stride[0] < 1 || o.stride[1] < 1)
        l_opterror(L, OPTS, "stride",
                   lua_pushfstring(L, "must be >= 1, got %d x %d", (int)o.stride[0], (int)o.stride[1]));
    AttrCall c;
    l_attr_args(L, &c, occlusion_opts);
    resolve_baseline(L, &c, &p);
    o.baseline = p.baseline;
    Tensor out;
    if (attr_occlusion(&c.run, c.x, c.targets, &o, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static const char *const ablation_opts[] = {"segments", "baseline", "blur_sigma", NULL};

static int l_attr_feature_ablation(lua_State *L) {
    Tensor *x = l_checktensor(L, 2);
    Parsed p = {0};
    parse_baseline(L, x, &p);
    parse_segments(L, x, &p);
    AttrCall c;
    l_attr_args(L, &c, ablation_opts);
    resolve_baseline(L, &c, &p);
    AblationOptions o = {resolve_segments(L, &c, &p), p.baseline};
    Tensor out;
    if (attr_feature_ablation(&c.run, c.x, c.targets, &o, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static const char *const lime_opts[] = {"segments",     "baseline", "blur_sigma", "n_samples",
                                        "kernel_width", "alpha",    NULL};

static int l_attr_lime(lua_State *L) {
    Tensor *x = l_checktensor(L, 2);
    Parsed p = {0};
    parse_baseline(L, x, &p);
    parse_segments(L, x, &p);
    PerturbReport rep;
    LimeOptions o = {.n_samples = opt_count(L, "n_samples", 1000),
                     .kernel_width = l_optnumber(L, OPTS, "kernel_width", 0.25),
                     .alpha = l_optnumber(L, OPTS, "alpha", 1.0),
                     .report = &rep};
    if (!(o.kernel_width > 0) || !isfinite(o.kernel_width)) l_opterror(L, OPTS, "kernel_width", "must be > 0");
    if (!(o.alpha >= 0) || !isfinite(o.alpha)) l_opterror(L, OPTS, "alpha", "must be >= 0");
    AttrCall c;
    l_attr_args(L, &c, lime_opts);
    resolve_baseline(L, &c, &p);
    o.baseline = p.baseline;
    o.segments = resolve_segments(L, &c, &p);
    Tensor out;
    if (attr_lime(&c.run, c.x, c.targets, &o, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    report(L, "lime", &rep);
    return 1;
}

static const char *const shap_opts[] = {"segments", "baseline", "blur_sigma", "n_samples", "exact", NULL};

static int l_attr_kernel_shap(lua_State *L) {
    Tensor *x = l_checktensor(L, 2);
    Parsed p = {0};
    parse_baseline(L, x, &p);
    parse_segments(L, x, &p);
    PerturbReport rep;
    KernelShapOptions o = {
        .n_samples = opt_count(L, "n_samples", 1000), .exact = l_optbool(L, OPTS, "exact", 0), .report = &rep};
    AttrCall c;
    l_attr_args(L, &c, shap_opts);
    resolve_baseline(L, &c, &p);
    o.baseline = p.baseline;
    o.segments = resolve_segments(L, &c, &p);
    Tensor out;
    if (attr_kernel_shap(&c.run, c.x, c.targets, &o, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    report(L, "kernel_shap", &rep);
    return 1;
}

static const char *const rise_opts[] = {"n_masks", "cell", "p", "baseline", "blur_sigma", NULL};

static int l_attr_rise(lua_State *L) {
    Tensor *x = l_checktensor(L, 2);
    check_images(L, x, "rise");
    Parsed p = {0};
    parse_baseline(L, x, &p);
    RiseOptions o = {.n_masks = opt_count(L, "n_masks", 1000), .p = l_optnumber(L, OPTS, "p", 0.5)};
    opt_pair(L, OPTS, "cell", x->shape[2] < 4 ? x->shape[2] : 4, x->shape[3] < 4 ? x->shape[3] : 4, o.cell);
    check_window(L, OPTS, "cell", o.cell, x);
    if (!(o.p > 0 && o.p <= 1)) l_opterror(L, OPTS, "p", "must be in (0, 1]");
    AttrCall c;
    l_attr_args(L, &c, rise_opts);
    resolve_baseline(L, &c, &p);
    o.baseline = p.baseline;
    Tensor out;
    if (attr_rise(&c.run, c.x, c.targets, &o, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

/* "_segments" is a helper, exposed as attr.segments and not a method (l_attr.h). */
const luaL_Reg l_attr_perturbation_funcs[] = {{"occlusion", l_attr_occlusion},
                                              {"feature_ablation", l_attr_feature_ablation},
                                              {"lime", l_attr_lime},
                                              {"kernel_shap", l_attr_kernel_shap},
                                              {"rise", l_attr_rise},
                                              {"_segments", l_attr_segments},
                                              {NULL, NULL}};
