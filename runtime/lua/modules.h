/* modules.h — the Lua modules sanity preloads. Each is a global in scripts
 * (tensor, rng, ...) and also loadable as require "sanity.<name>". To add a
 * module: write runtime/lua/l_<name>.c with luaopen_sanity_<name>, then add
 * one line to SANITY_MODULES below. */
#ifndef SANITY_MODULES_H
#define SANITY_MODULES_H

#include <lua.h>

int luaopen_sanity_tensor(lua_State *L);
int luaopen_sanity_rng(lua_State *L);
int luaopen_sanity_data(lua_State *L);
int luaopen_sanity_results(lua_State *L);
int luaopen_sanity_metric(lua_State *L);
int luaopen_sanity_nn(lua_State *L);
int luaopen_sanity_model(lua_State *L);
int luaopen_sanity_attr(lua_State *L);
int luaopen_sanity_randomize(lua_State *L);
int luaopen_sanity_train(lua_State *L);

#define SANITY_MODULES(X) \
    X(tensor)             \
    X(rng)                \
    X(data)               \
    X(results)            \
    X(metric)             \
    X(nn)                 \
    X(model)              \
    X(attr)               \
    X(randomize)          \
    X(train)

#endif
