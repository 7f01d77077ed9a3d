/* l_weights.c — weight files in the `model` module: sanity's HDF5 model
 * files, safetensors and Keras HDF5 weights (formats in io/h5model.h and
 * io/safetensors.h). Argument conversion only.
 *
 *   model.load(path [, architecture]) -> model
 *       without architecture: rebuilt from the file alone; with one (a
 *       model, filled in place, or architecture JSON): the file's tensors go
 *       into it
 *   m:save(path [, {attrs = {key = number|string|boolean}}]) -> m
 *   model.load_safetensors(path, architecture [, {strict = true}]) -> model
 *   m:save_safetensors(path) -> m
 *   model.load_keras(path, architecture [, {map = {keras_name = "layer"},
 *                                          channels_last = true}]) -> model
 * Loading is all-or-nothing: on an error a given model is unchanged. */
#include "lua/l_weights.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io/h5model.h"
#include "io/safetensors.h"
#include "lua/l_model.h"
#include "lua/l_util.h"

/* The model to fill from argument idx: a model (returned as it is) or
 * architecture JSON (a new model, pushed). Either way the model ends on top
 * of the stack. */
static Model *arch_model(lua_State *L, int idx) {
    Model *m = l_testmodel(L, idx);
    if (m) {
        lua_pushvalue(L, idx);
        return m;
    }
    if (lua_type(L, idx) != LUA_TSTRING) luaL_typeerror(L, idx, "model or architecture JSON");
    if (!(m = model_from_json(lua_tostring(L, idx)))) l_raise(L);
    l_pushmodel(L, m);
    return m;
}

static int l_weights_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        Model *m = arch_model(L, 2);
        if (h5model_load_into(m, path) != SN_OK) return l_raise(L);
        return 1;
    }
    Model *m = h5model_load(path);
    if (!m) return l_raise(L);
    l_pushmodel(L, m);
    return 1;
}

static const char *const save_opts[] = {"attrs", NULL};

static int l_weights_save(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    const char *path = luaL_checkstring(L, 2);
    l_checkoptkeys(L, 3, save_opts);
    int n = 0;
    ResultsAttr *attrs = NULL;
    if (!lua_isnoneornil(L, 3) && lua_getfield(L, 3, "attrs") != LUA_TNIL) {
        int t = lua_gettop(L);
        if (!lua_istable(L, t)) l_opterror(L, 3, "attrs", "table of key = number|string|boolean expected");
        for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) n++;
        attrs = lua_newuserdatauv(L, sizeof(ResultsAttr) * (size_t)(n ? n : 1), 0); /* freed by the collector */
        int i = 0;
        for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1), i++) {
            if (lua_type(L, -2) != LUA_TSTRING) l_opterror(L, 3, "attrs", "keys must be strings");
            const char *key = lua_tostring(L, -2);
            if (strcmp(key, "format") == 0 || strcmp(key, "format_version") == 0 || strcmp(key, "architecture") == 0)
                l_opterror(L, 3, "attrs", lua_pushfstring(L, "'%s' is written by sanity itself", key));
            ResultsAttr *a = &attrs[i];
            memset(a, 0, sizeof *a);
            a->key = key;
            switch (lua_type(L, -1)) {
            case LUA_TNUMBER:
                if (lua_isinteger(L, -1))
                    a->type = RESULTS_ATTR_INT, a->i = lua_tointeger(L, -1);
                else
                    a->type = RESULTS_ATTR_NUM, a->num = lua_tonumber(L, -1);
                break;
            case LUA_TSTRING:
                a->type = RESULTS_ATTR_STR, a->str = lua_tostring(L, -1);
                break;
            case LUA_TBOOLEAN:
                a->type = RESULTS_ATTR_BOOL, a->i = lua_toboolean(L, -1);
                break;
            default:
                l_opterror(L, 3, "attrs", lua_pushfstring(L, "value of '%s' must be a number, string or boolean", key));
            }
        }
    }
    /* keys and strings stay valid: the attrs table is still referenced */
    if (h5model_save(m, path, attrs, n) != SN_OK) return l_raise(L);
    lua_settop(L, 1);
    return 1;
}

static const char *const st_opts[] = {"strict", NULL};

static int l_weights_load_safetensors(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (lua_isnoneornil(L, 2)) luaL_argerror(L, 2, "architecture expected (a model or its JSON)");
    l_checkoptkeys(L, 3, st_opts);
    int strict = l_optbool(L, 3, "strict", 1);
    Model *m = arch_model(L, 2);
    if (safetensors_load(m, path, strict) != SN_OK) return l_raise(L);
    return 1;
}

static int l_weights_save_safetensors(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    if (safetensors_save(m, luaL_checkstring(L, 2)) != SN_OK) return l_raise(L);
    lua_settop(L, 1);
    return 1;
}

static const char *const keras_opts[] = {"map", "channels_last", NULL};

static int l_weights_load_keras(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (lua_isnoneornil(L, 2)) luaL_argerror(L, 2, "architecture expected (a model or its JSON)");
    l_checkoptkeys(L, 3, keras_opts);
    int channels_last = l_optbool(L, 3, "channels_last", 1);
    int n = 0;
    KerasMap *map = NULL;
    if (!lua_isnoneornil(L, 3) && lua_getfield(L, 3, "map") != LUA_TNIL) {
        int t = lua_gettop(L);
        if (!lua_istable(L, t)) l_opterror(L, 3, "map", "table of keras_name = \"sanity layer\" expected");
        for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                l_opterror(L, 3, "map", "keys and values must be layer names (strings)");
            n++;
        }
        map = lua_newuserdatauv(L, sizeof(KerasMap) * (size_t)(n ? n : 1), 0);
        int i = 0;
        for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1), i++)
            map[i] = (KerasMap){lua_tostring(L, -2), lua_tostring(L, -1)};
    }
    Model *m = arch_model(L, 2);
    if (map) {
        for (int i = 0; i < n; i++)
            if (model_find(m, map[i].node) < 0)
                l_opterror(L, 3, "map",
                           lua_pushfstring(L, "the model has no layer '%s' (mapped from Keras layer '%s')", map[i].node,
                                           map[i].keras));
    }
    if (h5model_load_keras(m, path, map, n, channels_last) != SN_OK) return l_raise(L);
    return 1;
}

static const luaL_Reg module_funcs[] = {{"load", l_weights_load},
                                        {"load_safetensors", l_weights_load_safetensors},
                                        {"load_keras", l_weights_load_keras},
                                        {NULL, NULL}};

static const luaL_Reg methods[] = {
    {"save", l_weights_save}, {"save_safetensors", l_weights_save_safetensors}, {NULL, NULL}};

void l_weights_register(lua_State *L) {
    luaL_setfuncs(L, module_funcs, 0);
    luaL_getmetatable(L, MODEL_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
