/* l_attr_gradient.c — bindings of the gradient family (attr/gradient.h):
 *   attr.gradient(model, x, target, opts)
 *   attr.input_x_gradient(model, x, target, opts)
 * Common arguments and options: l_attr.h. */
#include "attr/gradient.h"
#include "error.h"
#include "lua/l_attr.h"

static int l_attr_gradient(lua_State *L) {
    AttrCall c;
    l_attr_args(L, &c, NULL);
    Tensor out;
    if (attr_gradient(&c.run, c.x, c.targets, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static int l_attr_input_x_gradient(lua_State *L) {
    AttrCall c;
    l_attr_args(L, &c, NULL);
    Tensor out;
    if (attr_input_x_gradient(&c.run, c.x, c.targets, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

const luaL_Reg l_attr_gradient_funcs[] = {
    {"gradient", l_attr_gradient}, {"input_x_gradient", l_attr_input_x_gradient}, {NULL, NULL}};
