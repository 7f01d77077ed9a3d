/* l_weights.h — weight-file functions of the `model` module (l_weights.c),
 * registered by luaopen_sanity_model through this one hook. */
#ifndef SANITY_L_WEIGHTS_H
#define SANITY_L_WEIGHTS_H

#include <lua.h>

/* Adds model.load, model.load_safetensors, model.load_keras to the module
 * table on top of the stack and m:save, m:save_safetensors to the
 * sanity.Model methods (the metatable's __index). */
void l_weights_register(lua_State *L);

#endif
