/* l_attr_baseline.c — bindings of the model-free control maps
 * (attr/baseline.h). They take every method's arguments so protocols can
 * run them by name, but ignore the model and the targets (targets are still
 * parsed: "predicted" runs the model once):
 *   attr.random(model, x, target, opts)    keyed uniform (0, 1) map (opts.seed)
 *   attr.sobel(model, x, target, opts)     Sobel edge magnitude of x per
 *                                          channel (x: [N, ..., H, W])
 *   attr.input(model, x, target, opts)     x itself
 *   attr.constant(model, x, target, opts)  ones
 * Common arguments and options: l_attr.h. */
#include "attr/baseline.h"
#include "error.h"
#include "lua/l_attr.h"
#include "lua/l_util.h"

static int l_attr_random(lua_State *L) {
    AttrCall c;
    l_attr_args(L, &c, NULL);
    Tensor out;
    if (attr_random(&c.run, c.x, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static int run(lua_State *L, int (*fn)(const Tensor *, Tensor *)) {
    AttrCall c;
    l_attr_args(L, &c, NULL);
    Tensor out;
    if (fn(c.x, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static int l_attr_sobel(lua_State *L) {
    const Tensor *x = l_checktensor(L, 2);
    if (x->ndim < 3) {
        char s[128];
        luaL_argerror(L, 2, lua_pushfstring(L, "sobel needs images [N, ..., H, W], got %s", tensor_shape_str(x, s, sizeof s)));
    }
    return run(L, attr_sobel);
}
static int l_attr_input(lua_State *L) { return run(L, attr_input); }
static int l_attr_constant(lua_State *L) { return run(L, attr_constant); }

const luaL_Reg l_attr_baseline_funcs[] = {{"random", l_attr_random},
                                          {"sobel", l_attr_sobel},
                                          {"input", l_attr_input},
                                          {"constant", l_attr_constant},
                                          {NULL, NULL}};
