/* l_tensor.c — the `tensor` module and the sanity.Tensor type.
 * Converts Lua arguments (1-based positions and axes) to the 0-based C calls
 * in tensor.c and ops.c. Values that are indices (labels, argmax) stay
 * 0-based, as in PyTorch; positions (t[i], size(d), axis) are 1-based, as in
 * Lua. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "lua/l_util.h"
#include "lua/modules.h"
#include "ops.h"
#include "rng.h"

/* ---- creation ---------------------------------------------------------- */

static int l_tensor_zeros(lua_State *L) {
    int64_t shape[TENSOR_MAX_DIMS];
    int n = l_checkshape(L, 1, shape);
    l_pushtensor(L, n, shape);
    return 1;
}

static int push_filled(lua_State *L, int shape_idx, float v) {
    int64_t shape[TENSOR_MAX_DIMS];
    int n = l_checkshape(L, shape_idx, shape);
    ops_fill(l_pushtensor(L, n, shape), v);
    return 1;
}

static int l_tensor_ones(lua_State *L) { return push_filled(L, 1, 1.0f); }

static int l_tensor_full(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    float v = (float)luaL_checknumber(L, 2);
    lua_settop(L, 1);
    return push_filled(L, 1, v);
}

static int l_tensor_arange(lua_State *L) {
    double start = 0, stop, step = 1;
    if (lua_isnoneornil(L, 2)) {
        stop = luaL_checknumber(L, 1);
    } else {
        start = luaL_checknumber(L, 1);
        stop = luaL_checknumber(L, 2);
        step = luaL_optnumber(L, 3, 1);
    }
    luaL_argcheck(L, step != 0, 3, "step must not be zero");
    double count = ceil((stop - start) / step);
    int64_t n = count > 0 ? (int64_t)count : 0;
    float *p = tensor_data(l_pushtensor(L, 1, &n));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(start + (double)i * step);
    return 1;
}

/* Nested-table shape: follows first elements down. */
static int table_shape(lua_State *L, int idx, int64_t *shape) {
    int n = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        if (n == TENSOR_MAX_DIMS) luaL_error(L, "tensor.from: nesting deeper than %d", TENSOR_MAX_DIMS);
        shape[n++] = (int64_t)luaL_len(L, -1);
        if (shape[n - 1] == 0) break;
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return n;
}

static void fill_from_table(lua_State *L, int idx, const int64_t *shape, int ndim, int depth, float **p) {
    int64_t len = (int64_t)luaL_len(L, idx);
    if (len != shape[depth])
        luaL_error(L, "tensor.from: ragged table (a row at depth %d has %d entries, expected %d)", depth + 1, (int)len,
                   (int)shape[depth]);
    for (int64_t i = 1; i <= len; i++) {
        int t = lua_geti(L, idx, i);
        if (depth + 1 < ndim) {
            if (t != LUA_TTABLE) luaL_error(L, "tensor.from: expected a table at depth %d, got %s", depth + 2, luaL_typename(L, -1));
            fill_from_table(L, lua_gettop(L), shape, ndim, depth + 1, p);
        } else {
            int ok;
            lua_Number v = lua_tonumberx(L, -1, &ok);
            if (!ok || t != LUA_TNUMBER) luaL_error(L, "tensor.from: expected a number, got %s", luaL_typename(L, -1));
            *(*p)++ = (float)v;
        }
        lua_pop(L, 1);
    }
}

static int l_tensor_from(lua_State *L) {
    if (lua_type(L, 1) == LUA_TNUMBER) { /* a scalar */
        float v = (float)lua_tonumber(L, 1);
        ops_fill(l_pushtensor(L, 0, NULL), v);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t shape[TENSOR_MAX_DIMS];
    int n = table_shape(L, 1, shape);
    Tensor *t = l_pushtensor(L, n, shape);
    float *p = tensor_data(t);
    fill_from_table(L, 1, shape, n, 0, &p);
    return 1;
}

static const char *const draw_opts[] = {"seed", "stream", NULL};

static int push_random(lua_State *L, int normal) {
    int64_t shape[TENSOR_MAX_DIMS];
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = l_checkshape(L, 1, shape);
    l_checkoptkeys(L, 2, draw_opts);
    uint64_t seed = l_optseed(L, 2);
    uint64_t stream = l_optstream(L, 2, normal ? "tensor.randn" : "tensor.rand");
    Tensor *t = l_pushtensor(L, n, shape);
    (normal ? rng_normal : rng_uniform)(tensor_data(t), tensor_numel(t), seed, stream, 0);
    return 1;
}

static int l_tensor_randn(lua_State *L) { return push_random(L, 1); }
static int l_tensor_rand(lua_State *L) { return push_random(L, 0); }

/* tensor.cat(list, dim=1) and tensor.stack(list): batch assembly. */
static int l_tensor_cat(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int axis = (int)luaL_optinteger(L, 2, 1) - 1;
    int n = (int)luaL_len(L, 1);
    luaL_argcheck(L, n > 0, 1, "empty list");
    Tensor *first = NULL;
    int64_t total = 0;
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        Tensor *t = l_testtensor(L, -1);
        if (!t || !t->storage) luaL_argerror(L, 1, lua_pushfstring(L, "entry %d is not a tensor", i));
        if (!first) {
            first = t;
            luaL_argcheck(L, axis >= 0 && axis < t->ndim, 2, "dimension out of range");
        }
        int same = t->ndim == first->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = d == axis || t->shape[d] == first->shape[d];
        if (!same) {
            char a[160], b[160];
            luaL_error(L, "tensor.cat: entry %d has shape %s, entry 1 has %s (must agree except in dimension %d)", i,
                       tensor_shape_str(t, a, sizeof a), tensor_shape_str(first, b, sizeof b), axis + 1);
        }
        total += t->shape[axis];
        lua_pop(L, 1);
    }
    if (!first) return luaL_argerror(L, 1, "empty list");
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    shape[axis] = total;
    Tensor *out = l_pushtensor(L, first->ndim, shape);
    int64_t outer = shape_numel(axis, shape), inner = shape_numel(first->ndim - axis - 1, shape + axis + 1);
    float *o = tensor_data(out);
    int64_t pos = 0;
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        Tensor *t = l_testtensor(L, -1);
        int64_t len = t->shape[axis] * inner;
        for (int64_t r = 0; r < outer; r++)
            memcpy(o + r * total * inner + pos, tensor_data(t) + r * len, sizeof(float) * (size_t)len);
        pos += len;
        lua_pop(L, 1);
    }
    return 1;
}

static int l_tensor_stack(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)luaL_len(L, 1);
    luaL_argcheck(L, n > 0, 1, "empty list");
    lua_geti(L, 1, 1);
    Tensor *first = l_testtensor(L, -1);
    if (!first || !first->storage) luaL_argerror(L, 1, "entry 1 is not a tensor");
    int64_t shape[TENSOR_MAX_DIMS];
    luaL_argcheck(L, first->ndim < TENSOR_MAX_DIMS, 1, "tensors already have 8 dimensions");
    shape[0] = n;
    memcpy(shape + 1, first->shape, sizeof(int64_t) * (size_t)first->ndim);
    int64_t row = tensor_numel(first);
    lua_pop(L, 1);
    Tensor *out = l_pushtensor(L, first->ndim + 1, shape);
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        Tensor *t = l_testtensor(L, -1);
        if (!t || !t->storage) luaL_argerror(L, 1, lua_pushfstring(L, "entry %d is not a tensor", i));
        if (t->ndim != first->ndim || tensor_numel(t) != row || !tensor_same_shape(t, first)) {
            char a[160], b[160];
            luaL_error(L, "tensor.stack: entry %d has shape %s, entry 1 has %s", i, tensor_shape_str(t, a, sizeof a),
                       shape_str(first->ndim, shape + 1, b, sizeof b));
        }
        memcpy(tensor_data(out) + (i - 1) * row, tensor_data(t), sizeof(float) * (size_t)row);
        lua_pop(L, 1);
    }
    return 1;
}

static int l_tensor_is(lua_State *L) {
    lua_pushboolean(L, l_testtensor(L, 1) != NULL);
    return 1;
}

/* ---- queries and views ------------------------------------------------- */

static int l_t_shape(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* 1-based axis (negative counts from the end) to 0-based. */
static int check_axis(lua_State *L, const Tensor *t, int arg) {
    lua_Integer d = luaL_checkinteger(L, arg);
    if (d < 0) d += t->ndim + 1;
    if (d < 1 || d > t->ndim)
        luaL_argerror(L, arg, lua_pushfstring(L, "dimension %d out of range for a %d-d tensor", (int)luaL_checkinteger(L, arg), t->ndim));
    return (int)d - 1;
}

static int l_t_size(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) return l_t_shape(L);
    lua_pushinteger(L, t->shape[check_axis(L, t, 2)]);
    return 1;
}

static int l_t_numel(lua_State *L) {
    lua_pushinteger(L, tensor_numel(l_checktensor(L, 1)));
    return 1;
}

static int l_t_dim(lua_State *L) {
    lua_pushinteger(L, l_checktensor(L, 1)->ndim);
    return 1;
}

static int l_t_reshape(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    int64_t shape[TENSOR_MAX_DIMS];
    int n = 0, infer = -1;
    if (lua_istable(L, 2)) {
        n = (int)luaL_len(L, 2);
        luaL_argcheck(L, n <= TENSOR_MAX_DIMS, 2, "too many dimensions (at most 8)");
        for (int i = 0; i < n; i++) {
            lua_geti(L, 2, i + 1);
            shape[i] = luaL_checkinteger(L, -1);
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - 1;
        luaL_argcheck(L, n <= TENSOR_MAX_DIMS, 2, "too many dimensions (at most 8)");
        for (int i = 0; i < n; i++) shape[i] = luaL_checkinteger(L, i + 2);
    }
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (shape[i] == -1) {
            luaL_argcheck(L, infer < 0, 2, "only one dimension can be -1");
            infer = i;
        } else {
            luaL_argcheck(L, shape[i] >= 0, 2, "sizes must be non-negative or -1");
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        char buf[160];
        if (known == 0 || tensor_numel(t) % known)
            luaL_error(L, "reshape: cannot infer -1 for %s from %lld elements", shape_str(n, shape, buf, sizeof buf),
                       (long long)tensor_numel(t));
        shape[infer] = tensor_numel(t) / known;
    }
    Tensor v;
    if (tensor_reshape(&v, t, n, shape) != SN_OK) l_raise(L);
    l_pushtensor_move(L, &v);
    return 1;
}

static int l_t_narrow(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    lua_Integer start = luaL_checkinteger(L, 2), len = luaL_checkinteger(L, 3);
    luaL_argcheck(L, t->ndim >= 1, 1, "tensor has no dimensions");
    if (start < 1 || len < 0 || start - 1 + len > t->shape[0])
        luaL_error(L, "narrow: rows %d..%d out of range for dimension 1 of size %d", (int)start, (int)(start + len - 1),
                   (int)t->shape[0]);
    Tensor v;
    if (tensor_narrow(&v, t, start - 1, len) != SN_OK) l_raise(L);
    l_pushtensor_move(L, &v);
    return 1;
}

static int l_t_clone(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    Tensor c;
    if (tensor_clone(&c, t) != SN_OK) l_raise(L);
    l_pushtensor_move(L, &c);
    return 1;
}

static void check_same_shape(lua_State *L, const Tensor *a, const Tensor *b, const char *what) {
    if (!tensor_same_shape(a, b)) {
        char sa[160], sb[160];
        luaL_error(L, "%s: shapes %s and %s differ", what, tensor_shape_str(a, sa, sizeof sa), tensor_shape_str(b, sb, sizeof sb));
    }
}

static int l_t_copy_(lua_State *L) {
    Tensor *t = l_checktensor(L, 1), *src = l_checktensor(L, 2);
    check_same_shape(L, t, src, "copy_");
    memmove(tensor_data(t), tensor_data(src), sizeof(float) * (size_t)tensor_numel(t));
    lua_settop(L, 1);
    return 1;
}

static int l_t_fill_(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    ops_fill(t, (float)luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int l_t_transpose(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    if (t->ndim != 2) luaL_error(L, "transpose: expected a 2-d tensor, got %d-d", t->ndim);
    int64_t shape[2] = {t->shape[1], t->shape[0]};
    ops_transpose2d(l_pushtensor(L, 2, shape), t);
    return 1;
}

/* ---- arithmetic -------------------------------------------------------- */

static int binary(lua_State *L, BinaryOp op, int inplace) {
    Tensor *a = l_testtensor(L, 1), *b = l_testtensor(L, 2);
    if (inplace) a = l_checktensor(L, 1);
    if (a && !a->storage) luaL_argerror(L, 1, "tensor has been freed");
    if (b && !b->storage) luaL_argerror(L, 2, "tensor has been freed");
    if (a && b) {
        int ndim;
        int64_t shape[TENSOR_MAX_DIMS];
        if (ops_broadcast_shape(a, b, &ndim, shape) != SN_OK) l_raise(L);
        if (inplace) {
            if (ndim != a->ndim || shape_numel(ndim, shape) != tensor_numel(a)) {
                char sa[160], sb[160];
                luaL_error(L, "in-place op: %s cannot be broadcast into %s", tensor_shape_str(b, sb, sizeof sb),
                           tensor_shape_str(a, sa, sizeof sa));
            }
            ops_binary(op, a, a, b);
            lua_settop(L, 1);
        } else {
            ops_binary(op, l_pushtensor(L, ndim, shape), a, b);
        }
        return 1;
    }
    if (a && lua_type(L, 2) == LUA_TNUMBER) {
        float s = (float)lua_tonumber(L, 2);
        if (inplace) {
            ops_binary_scalar(op, a, a, s, 0);
            lua_settop(L, 1);
        } else {
            ops_binary_scalar(op, l_pushtensor(L, a->ndim, a->shape), a, s, 0);
        }
        return 1;
    }
    if (b && !inplace && lua_type(L, 1) == LUA_TNUMBER) {
        float s = (float)lua_tonumber(L, 1);
        ops_binary_scalar(op, l_pushtensor(L, b->ndim, b->shape), b, s, 1);
        return 1;
    }
    int bad = a ? 2 : 1;
    return luaL_error(L, "arithmetic on a tensor: operand #%d is %s (tensor or number expected)", bad, luaL_typename(L, bad));
}

static int l_t_add(lua_State *L) { return binary(L, OP_ADD, 0); }
static int l_t_sub(lua_State *L) { return binary(L, OP_SUB, 0); }
static int l_t_mul(lua_State *L) { return binary(L, OP_MUL, 0); }
static int l_t_div(lua_State *L) { return binary(L, OP_DIV, 0); }
static int l_t_pow(lua_State *L) { return binary(L, OP_POW, 0); }
static int l_t_maximum(lua_State *L) { return binary(L, OP_MAX, 0); }
static int l_t_minimum(lua_State *L) { return binary(L, OP_MIN, 0); }
static int l_t_add_(lua_State *L) { return binary(L, OP_ADD, 1); }
static int l_t_sub_(lua_State *L) { return binary(L, OP_SUB, 1); }
static int l_t_mul_(lua_State *L) { return binary(L, OP_MUL, 1); }
static int l_t_div_(lua_State *L) { return binary(L, OP_DIV, 1); }

static int unary(lua_State *L, UnaryOp op) {
    Tensor *t = l_checktensor(L, 1);
    ops_unary(op, l_pushtensor(L, t->ndim, t->shape), t);
    return 1;
}

static int l_t_abs(lua_State *L) { return unary(L, OP_ABS); }
static int l_t_sqrt(lua_State *L) { return unary(L, OP_SQRT); }
static int l_t_exp(lua_State *L) { return unary(L, OP_EXP); }
static int l_t_log(lua_State *L) { return unary(L, OP_LOG); }
static int l_t_neg(lua_State *L) { return unary(L, OP_NEG); }
static int l_t_square(lua_State *L) { return unary(L, OP_SQUARE); }
static int l_t_sign(lua_State *L) { return unary(L, OP_SIGN); }
static int l_t_tanh(lua_State *L) { return unary(L, OP_TANH); }
static int l_t_sigmoid(lua_State *L) { return unary(L, OP_SIGMOID); }

static int l_t_clamp(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    float lo = (float)luaL_optnumber(L, 2, -HUGE_VAL), hi = (float)luaL_optnumber(L, 3, HUGE_VAL);
    luaL_argcheck(L, lo <= hi, 3, "upper bound below lower bound");
    ops_clamp(l_pushtensor(L, t->ndim, t->shape), t, lo, hi);
    return 1;
}

/* t:sum() / t:sum(axis [, keepdim]) and friends. */
static int reduce(lua_State *L, ReduceOp op) {
    Tensor *t = l_checktensor(L, 1);
    int axis = lua_isnoneornil(L, 2) ? -1 : check_axis(L, t, 2);
    int keepdim = lua_toboolean(L, 3);
    int correction = 1;
    if (op == RED_STD || op == RED_VAR) correction = (int)l_optinteger(L, 4, "correction", 1);
    if (axis < 0 && tensor_numel(t) == 0 && op != RED_SUM) luaL_error(L, "reduction of an empty tensor");
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    ops_reduce_shape(t, axis, keepdim, &ndim, shape);
    if (axis < 0 && !keepdim) { /* whole-tensor reductions return a Lua number */
        Tensor tmp;
        if (tensor_init(&tmp, 0, NULL) != SN_OK) l_raise(L);
        ops_reduce(op, &tmp, t, -1, correction);
        float v = tensor_data(&tmp)[0];
        tensor_release(&tmp);
        if (op == RED_ARGMAX || op == RED_ARGMIN)
            lua_pushinteger(L, (lua_Integer)v);
        else
            lua_pushnumber(L, v);
        return 1;
    }
    if (axis >= 0 && t->shape[axis] == 0 && op != RED_SUM) luaL_error(L, "reduction over an empty dimension");
    ops_reduce(op, l_pushtensor(L, ndim, shape), t, axis, correction);
    return 1;
}

static int l_t_sum(lua_State *L) { return reduce(L, RED_SUM); }
static int l_t_mean(lua_State *L) { return reduce(L, RED_MEAN); }
static int l_t_max(lua_State *L) { return reduce(L, RED_MAX); }
static int l_t_min(lua_State *L) { return reduce(L, RED_MIN); }
static int l_t_argmax(lua_State *L) { return reduce(L, RED_ARGMAX); }
static int l_t_argmin(lua_State *L) { return reduce(L, RED_ARGMIN); }
static int l_t_std(lua_State *L) { return reduce(L, RED_STD); }
static int l_t_var(lua_State *L) { return reduce(L, RED_VAR); }

static int l_t_matmul(lua_State *L) {
    Tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    char sa[160], sb[160];
    if (a->ndim != 2 || b->ndim != 2)
        luaL_error(L, "matmul: expected two 2-d tensors, got %s and %s", tensor_shape_str(a, sa, sizeof sa),
                   tensor_shape_str(b, sb, sizeof sb));
    if (a->shape[1] != b->shape[0])
        luaL_error(L, "matmul: inner dimensions differ: %s @ %s", tensor_shape_str(a, sa, sizeof sa),
                   tensor_shape_str(b, sb, sizeof sb));
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    Tensor *c = l_pushtensor(L, 2, shape);
    if (ops_matmul(c, a, b, l_session(L) ? l_session(L)->nthreads : 1) != SN_OK) l_raise(L);
    return 1;
}

/* Bitwise equality of shape and data (what determinism tests need). */
static int l_t_equal(lua_State *L) {
    Tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    lua_pushboolean(L, tensor_same_shape(a, b) &&
                           memcmp(tensor_data(a), tensor_data(b), sizeof(float) * (size_t)tensor_numel(a)) == 0);
    return 1;
}

/* Largest |a-b| / (atol + rtol*|b|) is at most 1, as numpy.allclose. */
static int l_t_allclose(lua_State *L) {
    Tensor *a = l_checktensor(L, 1), *b = l_checktensor(L, 2);
    double rtol = luaL_optnumber(L, 3, 1e-5), atol = luaL_optnumber(L, 4, 1e-8);
    check_same_shape(L, a, b, "allclose");
    const float *x = tensor_data(a), *y = tensor_data(b);
    int ok = 1;
    for (int64_t i = 0, n = tensor_numel(a); i < n && ok; i++)
        ok = fabs((double)x[i] - y[i]) <= atol + rtol * fabs((double)y[i]) || (isnan(x[i]) && isnan(y[i]));
    lua_pushboolean(L, ok);
    return 1;
}

static void push_table_rec(lua_State *L, const float *p, const int64_t *shape, int ndim) {
    if (ndim == 0) {
        lua_pushnumber(L, *p);
        return;
    }
    int64_t stride = shape_numel(ndim - 1, shape + 1);
    luaL_checkstack(L, 4, "tensor too deep");
    lua_createtable(L, (int)shape[0], 0);
    for (int64_t i = 0; i < shape[0]; i++) {
        push_table_rec(L, p + i * stride, shape + 1, ndim - 1);
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_t_totable(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    push_table_rec(L, tensor_data(t), t->shape, t->ndim);
    return 1;
}

static int l_t_item(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    if (tensor_numel(t) != 1) {
        char s[160];
        luaL_error(L, "item: tensor of shape %s has %d elements, expected 1", tensor_shape_str(t, s, sizeof s), (int)tensor_numel(t));
    }
    lua_pushnumber(L, tensor_data(t)[0]);
    return 1;
}

static int l_t_free(lua_State *L) {
    Tensor *t = luaL_checkudata(L, 1, TENSOR_MT);
    tensor_release(t);
    return 0;
}

/* ---- indexing, printing ------------------------------------------------ */

static int64_t check_index(lua_State *L, const Tensor *t, int arg) {
    if (t->ndim < 1) luaL_error(L, "cannot index a 0-d tensor (use item())");
    lua_Integer i = lua_tointeger(L, arg);
    if (i < 1 || i > t->shape[0])
        luaL_error(L, "index %d out of range for dimension 1 of size %d", (int)i, (int)t->shape[0]);
    return (int64_t)i - 1;
}

/* Labels are float32, so integral floats (3.0) index like integers. */
static int is_index(lua_State *L, int arg) {
    int ok = 0;
    if (lua_type(L, arg) == LUA_TNUMBER) lua_tointegerx(L, arg, &ok);
    return ok;
}

static int l_t_index(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    if (is_index(L, 2)) {
        int64_t i = check_index(L, t, 2);
        if (t->ndim == 1) {
            lua_pushnumber(L, tensor_data(t)[i]);
            return 1;
        }
        Tensor v;
        if (tensor_select(&v, t, i) != SN_OK) l_raise(L);
        l_pushtensor_move(L, &v);
        return 1;
    }
    if (lua_type(L, 2) == LUA_TNUMBER) luaL_error(L, "tensor index must be an integer");
    luaL_getmetatable(L, TENSOR_MT);
    lua_getfield(L, -1, "__methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int l_t_newindex(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    if (!is_index(L, 2)) luaL_error(L, "tensor index must be an integer");
    int64_t i = check_index(L, t, 2);
    int64_t row = tensor_row_numel(t);
    float *dst = tensor_data(t) + i * row;
    Tensor *src = l_testtensor(L, 3);
    if (src) {
        Tensor view;
        if (tensor_select(&view, t, i) != SN_OK) l_raise(L);
        int same = tensor_numel(src) == row && tensor_same_shape(&view, src);
        tensor_release(&view);
        if (!same) {
            char a[160], b[160];
            luaL_error(L, "cannot assign a tensor of shape %s to a row of shape %s", tensor_shape_str(src, a, sizeof a),
                       shape_str(t->ndim - 1, t->shape + 1, b, sizeof b));
        }
        memmove(dst, tensor_data(src), sizeof(float) * (size_t)row);
    } else {
        float v = (float)luaL_checknumber(L, 3);
        for (int64_t k = 0; k < row; k++) dst[k] = v;
    }
    return 0;
}

static int l_t_len(lua_State *L) {
    Tensor *t = l_checktensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->shape[0] : 0);
    return 1;
}

static void add_rec(luaL_Buffer *b, lua_State *L, const float *p, const int64_t *shape, int ndim, int depth) {
    if (ndim == 0) {
        char num[32];
        snprintf(num, sizeof num, "%.6g", (double)*p);
        luaL_addstring(b, num);
        return;
    }
    int64_t stride = shape_numel(ndim - 1, shape + 1);
    luaL_addchar(b, '[');
    for (int64_t i = 0; i < shape[0]; i++) {
        if (i) {
            luaL_addchar(b, ',');
            if (ndim > 1) {
                luaL_addchar(b, '\n');
                for (int k = 0; k < depth + 8; k++) luaL_addchar(b, ' ');
            } else {
                luaL_addchar(b, ' ');
            }
        }
        add_rec(b, L, p + i * stride, shape + 1, ndim - 1, depth + 1);
    }
    luaL_addchar(b, ']');
}

static int l_t_tostring(lua_State *L) {
    Tensor *t = luaL_checkudata(L, 1, TENSOR_MT);
    char s[160];
    if (!t->storage) {
        lua_pushstring(L, "tensor(freed)");
        return 1;
    }
    tensor_shape_str(t, s, sizeof s);
    int64_t n = tensor_numel(t);
    if (n <= 64) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addstring(&b, "tensor(");
        add_rec(&b, L, tensor_data(t), t->shape, t->ndim, 0);
        luaL_addstring(&b, ", shape=");
        luaL_addstring(&b, s);
        luaL_addchar(&b, ')');
        luaL_pushresult(&b);
        return 1;
    }
    const float *p = tensor_data(t);
    double lo = p[0], hi = p[0], sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < lo) lo = p[i];
        if (p[i] > hi) hi = p[i];
        sum += p[i];
    }
    char line[320];
    snprintf(line, sizeof line, "tensor(shape=%s, min=%.4g, max=%.4g, mean=%.4g)", s, lo, hi, sum / (double)n);
    lua_pushstring(L, line);
    return 1;
}

static const luaL_Reg tensor_methods[] = {
    {"shape", l_t_shape},       {"size", l_t_size},         {"numel", l_t_numel},     {"dim", l_t_dim},
    {"reshape", l_t_reshape},   {"view", l_t_reshape},      {"narrow", l_t_narrow},   {"clone", l_t_clone},
    {"copy_", l_t_copy_},       {"fill_", l_t_fill_},       {"transpose", l_t_transpose},
    {"add", l_t_add},           {"sub", l_t_sub},           {"mul", l_t_mul},         {"div", l_t_div},
    {"pow", l_t_pow},           {"maximum", l_t_maximum},   {"minimum", l_t_minimum}, {"add_", l_t_add_},
    {"sub_", l_t_sub_},         {"mul_", l_t_mul_},         {"div_", l_t_div_},       {"abs", l_t_abs},
    {"sqrt", l_t_sqrt},         {"exp", l_t_exp},           {"log", l_t_log},         {"neg", l_t_neg},
    {"square", l_t_square},     {"sign", l_t_sign},         {"tanh", l_t_tanh},       {"sigmoid", l_t_sigmoid},
    {"clamp", l_t_clamp},       {"sum", l_t_sum},           {"mean", l_t_mean},       {"max", l_t_max},
    {"min", l_t_min},           {"argmax", l_t_argmax},     {"argmin", l_t_argmin},   {"std", l_t_std},
    {"var", l_t_var},           {"matmul", l_t_matmul},     {"equal", l_t_equal},     {"allclose", l_t_allclose},
    {"totable", l_t_totable},   {"item", l_t_item},         {"free", l_t_free},       {NULL, NULL}};

static const luaL_Reg tensor_meta[] = {
    {"__index", l_t_index}, {"__newindex", l_t_newindex}, {"__len", l_t_len},       {"__tostring", l_t_tostring},
    {"__gc", l_t_free},     {"__close", l_t_free},        {"__add", l_t_add},       {"__sub", l_t_sub},
    {"__mul", l_t_mul},     {"__div", l_t_div},           {"__pow", l_t_pow},       {"__unm", l_t_neg},
    {NULL, NULL}};

static const luaL_Reg tensor_funcs[] = {
    {"zeros", l_tensor_zeros}, {"ones", l_tensor_ones}, {"full", l_tensor_full},   {"arange", l_tensor_arange},
    {"from", l_tensor_from},   {"randn", l_tensor_randn}, {"rand", l_tensor_rand}, {"cat", l_tensor_cat},
    {"stack", l_tensor_stack}, {"is_tensor", l_tensor_is}, {"matmul", l_t_matmul}, {"allclose", l_t_allclose},
    {NULL, NULL}};

int luaopen_sanity_tensor(lua_State *L) {
    luaL_newmetatable(L, TENSOR_MT);
    luaL_setfuncs(L, tensor_meta, 0);
    luaL_newlib(L, tensor_methods);
    lua_setfield(L, -2, "__methods");
    lua_pushliteral(L, "sanity.Tensor");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    luaL_newlib(L, tensor_funcs);
    return 1;
}
