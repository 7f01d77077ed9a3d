/* l_attr.c — the `attr` module: shared argument handling (l_attr.h), the
 * method list and attr.explain(name, ...) dispatch. The methods themselves
 * are bound in l_attr_<family>.c and computed in runtime/attr/. */
#include "lua/l_attr.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lua/l_model.h"
#include "lua/l_util.h"
#include "lua/modules.h"

const char *const attr_common_opts[] = {"output", "abs", "reduce", "normalize", "batch_size", "seed", NULL};

static const char *const outputs[] = {"logit", "softmax", "log_softmax", NULL};
static const char *const reduces[] = {"none", "sum", "mean", "max", "max_abs", NULL};
static const char *const norms[] = {"none", "max_abs", "min_max", "std", "rms", NULL};

/* Checks every key of the option table against common + extra. */
static void check_keys(lua_State *L, int idx, const char *const extra[]) {
    if (lua_isnoneornil(L, idx)) return;
    const char *all[64];
    int n = 0;
    for (int i = 0; attr_common_opts[i]; i++) all[n++] = attr_common_opts[i];
    for (int i = 0; extra && extra[i] && n < 63; i++) all[n++] = extra[i];
    all[n] = NULL;
    l_checkoptkeys(L, idx, all);
}

void l_attr_args(lua_State *L, AttrCall *c, const char *const extra[]) {
    memset(c, 0, sizeof *c);
    Model *m = l_checkmodel(L, 1);
    c->x = l_checktensor(L, 2);
    if (c->x->ndim < 2 || c->x->shape[0] < 1) {
        char s[128];
        luaL_argerror(L, 2, lua_pushfstring(L, "a batch [N, ...] with N >= 1 expected, got %s",
                                            tensor_shape_str(c->x, s, sizeof s)));
    }
    c->n = c->x->shape[0];
    if (lua_isnoneornil(L, 4)) {
        lua_settop(L, 3);
        lua_newtable(L);
    }
    luaL_checktype(L, 4, LUA_TTABLE);
    c->opts = 4;
    check_keys(L, 4, extra);
    c->run.model = m;
    c->run.nthreads = l_session(L) ? l_session(L)->nthreads : 1;
    c->run.seed = l_optseed(L, 4);
    c->run.output = (AttrOutput)l_optchoice(L, 4, "output", "logit", outputs);
    c->run.chunk = l_optinteger(L, 4, "batch_size", 256);
    if (c->run.chunk < 1) l_opterror(L, 4, "batch_size", "must be a positive integer");
    c->post.abs = l_optbool(L, 4, "abs", 0);
    c->post.reduce = (AttrReduce)l_optchoice(L, 4, "reduce", "none", reduces);
    c->post.norm = (AttrNorm)l_optchoice(L, 4, "normalize", "none", norms);

    /* targets live in a userdata at stack slot 5 until the call returns */
    lua_settop(L, 4);
    c->targets = lua_newuserdatauv(L, sizeof(float) * (size_t)c->n, 0);
    if (lua_type(L, 3) == LUA_TSTRING) {
        if (strcmp(lua_tostring(L, 3), "predicted") != 0)
            luaL_argerror(L, 3, "target must be a label tensor, a class index or \"predicted\"");
    } else if (lua_type(L, 3) == LUA_TNUMBER) {
        int ok;
        lua_Integer k = lua_tointegerx(L, 3, &ok);
        if (!ok || k < 0) luaL_argerror(L, 3, "class index must be a non-negative integer (0-based)");
        for (int64_t i = 0; i < c->n; i++) c->targets[i] = (float)k;
    } else if (lua_istable(L, 3)) {
        if ((int64_t)luaL_len(L, 3) != c->n)
            luaL_argerror(L, 3, lua_pushfstring(L, "%d targets for %d samples", (int)luaL_len(L, 3), (int)c->n));
        for (int64_t i = 0; i < c->n; i++) {
            lua_geti(L, 3, i + 1);
            int ok;
            lua_Integer k = lua_tointegerx(L, -1, &ok);
            if (!ok || k < 0) luaL_argerror(L, 3, "targets must be non-negative integers (0-based)");
            c->targets[i] = (float)k;
            lua_pop(L, 1);
        }
    } else {
        Tensor *t = l_testtensor(L, 3);
        if (!t || !t->storage) luaL_argerror(L, 3, "label tensor, class index or \"predicted\" expected");
        if (tensor_numel(t) != c->n) {
            char s[128];
            luaL_argerror(L, 3, lua_pushfstring(L, "target tensor %s has %d entries for %d samples",
                                                tensor_shape_str(t, s, sizeof s), (int)tensor_numel(t), (int)c->n));
        }
        memcpy(c->targets, tensor_data(t), sizeof(float) * (size_t)c->n);
    }
    c->was_training = m->training;
    if (m->training) model_set_training(m, 0);
    if (lua_type(L, 3) == LUA_TSTRING && attr_predict(&c->run, c->x, c->targets) != SN_OK) l_attr_fail(L, c);
}

static void restore(AttrCall *c) {
    if (c->was_training) model_set_training(c->run.model, 1);
    c->was_training = 0;
}

int l_attr_fail(lua_State *L, AttrCall *c) {
    restore(c);
    return l_raise(L);
}

void l_attr_push(lua_State *L, AttrCall *c, Tensor *raw) {
    restore(c);
    if (c->post.abs == 0 && c->post.reduce == ATTR_REDUCE_NONE && c->post.norm == ATTR_NORM_NONE) {
        l_pushtensor_move(L, raw);
        return;
    }
    Tensor out;
    int rc = attr_postprocess(raw, &c->post, &out);
    tensor_release(raw);
    if (rc != SN_OK) l_raise(L);
    l_pushtensor_move(L, &out);
}

/* ---- the module ------------------------------------------------------- */

static const luaL_Reg *const families[] = {
#define L_ATTR_ENTRY(family) l_attr_##family##_funcs,
    L_ATTR_FAMILIES(L_ATTR_ENTRY)
#undef L_ATTR_ENTRY
        NULL};

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Pushes "a, b, c" of every method name, sorted. */
static void push_names(lua_State *L, int as_table) {
    const char *names[128];
    int n = 0;
    for (int f = 0; families[f]; f++)
        for (const luaL_Reg *r = families[f]; r->name && n < 128; r++)
            if (r->name[0] != '_') names[n++] = r->name;
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    if (as_table) {
        lua_createtable(L, n, 0);
        for (int i = 0; i < n; i++) {
            lua_pushstring(L, names[i]);
            lua_rawseti(L, -2, i + 1);
        }
        return;
    }
    names[n] = NULL;
    l_joinlist(L, names);
}

/* attr.list() -> sorted array of method names */
static int l_attr_list(lua_State *L) {
    push_names(L, 1);
    return 1;
}

/* attr.explain(name, model, x, target, opts) */
static int l_attr_explain(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, lua_upvalueindex(1), name); /* the upvalue holds methods only, no helpers */
    if (!lua_isfunction(L, -1)) {
        push_names(L, 0);
        return luaL_error(L, "unknown attribution method '%s' (known: %s)", name, lua_tostring(L, -1));
    }
    lua_replace(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

int luaopen_sanity_attr(lua_State *L) {
    lua_newtable(L); /* the module */
    lua_newtable(L); /* methods only: attr.explain's upvalue */
    for (int f = 0; families[f]; f++)
        for (const luaL_Reg *r = families[f]; r->name; r++) {
            lua_pushcfunction(L, r->func);
            if (r->name[0] == '_') { /* a helper: attr.<name without '_'> */
                lua_setfield(L, -3, r->name + 1);
                continue;
            }
            lua_pushvalue(L, -1);
            lua_setfield(L, -4, r->name);
            lua_setfield(L, -2, r->name);
        }
    lua_pushcclosure(L, l_attr_explain, 1);
    lua_setfield(L, -2, "explain");
    lua_pushcfunction(L, l_attr_list);
    lua_setfield(L, -2, "list");
    lua_pushvalue(L, -1); /* smooth/noisy look methods up in the module */
    luaL_setfuncs(L, l_attr_smooth_tools, 1);
    return 1;
}
