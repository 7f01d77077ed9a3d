/* l_attr_propagation.c — bindings of the modified-backward family
 * (attr/propagation.h); no options of their own:
 *   attr.guided_backprop(model, x, target, opts)
 *   attr.deconvnet(model, x, target, opts)
 * Rules apply at relu nodes; other nodes pass plain gradients (a model with
 * no relu gets the gradient). Common arguments and options: l_attr.h. */
#include "attr/propagation.h"
#include "error.h"
#include "lua/l_attr.h"

static int run(lua_State *L, int (*method)(const AttrRun *, const Tensor *, const float *, Tensor *)) {
    AttrCall c;
    l_attr_args(L, &c, NULL);
    Tensor out;
    if (method(&c.run, c.x, c.targets, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static int l_attr_guided_backprop(lua_State *L) { return run(L, attr_guided_backprop); }
static int l_attr_deconvnet(lua_State *L) { return run(L, attr_deconvnet); }

const luaL_Reg l_attr_propagation_funcs[] = {
    {"guided_backprop", l_attr_guided_backprop}, {"deconvnet", l_attr_deconvnet}, {NULL, NULL}};
