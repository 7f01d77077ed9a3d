/* l_attr_lrp.c — bindings of LRP (attr/lrp.h) and DeepLift (attr/deeplift.h):
 *   attr.lrp(model, x, target, opts) -> relevance at the input, shaped like x
 *   attr.lrp_epsilon, attr.lrp_zplus, attr.lrp_epsilon_plus,
 *   attr.lrp_epsilon_gamma_box, attr.lrp_alpha2_beta1(model, x, target, opts)
 *       attr.lrp with that composite (opts may not set one)
 *   attr.lrp_rules(model, opts) -> the rule of every node, in node order:
 *       {{name=, type=, rule=, <its parameters>}, ...}, each also under its name
 *   attr.deeplift(model, x, target, opts) -> attributions, delta [N]
 * LRP options (besides the common ones, l_attr.h):
 *   composite  "epsilon" (default) | lrp_composite_list()
 *   rules      {<layer name or type> = "rule" | {"rule", <parameters>}}:
 *              overrides the composite; names win over types. A rule named
 *              here takes opts.epsilon as its epsilon (pooling, batch norm
 *              and add included: composites give those the stabilizer)
 *   epsilon 1e-6, stabilizer 1e-6, gamma 0.25, alpha 2, beta 1,
 *   low 0, high 1 (numbers, or tensors shaped like one sample of the layer's
 *   input): parameters of every rule that does not set its own
 *   canonize   false: merge each batch norm into the linear/conv2d layer
 *              before it (lrp_canonize_pairs); attr.lrp_rules then shows the
 *              merged batch norms as "pass"
 * DeepLift options: baseline = "zeros" (default) | number | tensor (one
 * sample, or shaped like x). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attr/deeplift.h"
#include "attr/lrp.h"
#include "error.h"
#include "lua/l_attr.h"
#include "lua/l_model.h"
#include "lua/l_util.h"

static const char *const lrp_extra[] = {"composite", "rules", "epsilon", "stabilizer", "gamma", "alpha",
                                        "beta",      "low",   "high",    "canonize",   NULL};
static const char *const node_keys[] = {"epsilon", "stabilizer", "gamma", "alpha", "beta", "low", "high", NULL};

/* Raises "<where>: msg" (where = "option" for the option table, or
 * "rules.<key>" for a per-layer table). */
static int param_error(lua_State *L, const char *where, const char *key, const char *msg) {
    return luaL_error(L, "%s '%s': %s", where, key, msg);
}

/* Reads the parameters present in the table at idx into p. */
static void read_params(lua_State *L, int idx, LrpParams *p, const char *where) {
    static const char *const nonneg[] = {"epsilon", "stabilizer", "gamma"};
    float *nonneg_dst[] = {&p->epsilon, &p->stabilizer, &p->gamma};
    for (int i = 0; i < 3; i++) {
        int t = lua_getfield(L, idx, nonneg[i]);
        if (t != LUA_TNIL) {
            if (t != LUA_TNUMBER) param_error(L, where, nonneg[i], "number expected");
            lua_Number v = lua_tonumber(L, -1);
            if (!(v >= 0) || v == HUGE_VAL) param_error(L, where, nonneg[i], "must be a non-negative number");
            *nonneg_dst[i] = (float)v;
        }
        lua_pop(L, 1);
    }
    static const char *const ab[] = {"alpha", "beta"};
    float *ab_dst[] = {&p->alpha, &p->beta};
    for (int i = 0; i < 2; i++) {
        int t = lua_getfield(L, idx, ab[i]);
        if (t != LUA_TNIL) {
            if (t != LUA_TNUMBER) param_error(L, where, ab[i], "number expected");
            *ab_dst[i] = (float)lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    static const char *const bounds[] = {"low", "high"};
    float *bv[] = {&p->low, &p->high};
    const Tensor **bt[] = {&p->low_t, &p->high_t};
    for (int i = 0; i < 2; i++) {
        int t = lua_getfield(L, idx, bounds[i]);
        if (t == LUA_TNUMBER) {
            *bv[i] = (float)lua_tonumber(L, -1), *bt[i] = NULL;
        } else if (t != LUA_TNIL) {
            const Tensor *tt = l_testtensor(L, -1);
            if (!tt || !tt->storage) param_error(L, where, bounds[i], "number or tensor expected");
            *bt[i] = tt; /* stays referenced by the option table for the call */
        }
        lua_pop(L, 1);
    }
}

/* Pushes "a, b, c": the names of the model's layers. */
static const char *push_layer_names(lua_State *L, const Model *m) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < m->nnodes; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, m->nodes[i].name);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* The rule given as the value at the top of the stack for rules[key]. */
static void parse_rule(lua_State *L, const char *key, const LrpParams *p, LrpRule *r) {
    int v = lua_gettop(L);
    LrpParams q = *p;
    const char *name;
    char where[NODE_NAME_MAX + 16];
    snprintf(where, sizeof where, "rules.%s", key);
    if (lua_type(L, v) == LUA_TSTRING) {
        name = lua_tostring(L, v);
    } else if (lua_istable(L, v)) {
        lua_geti(L, v, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: the rule name expected as the first entry, e.g. {\"epsilon\", epsilon = 0.1}", where);
        name = lua_tostring(L, -1);
        lua_pop(L, 1); /* the name stays alive in the table */
        lua_pushnil(L);
        while (lua_next(L, v)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TNUMBER && lua_tointeger(L, -1) == 1) continue;
            int ok = 0;
            for (int i = 0; node_keys[i] && lua_type(L, -1) == LUA_TSTRING; i++)
                ok |= strcmp(lua_tostring(L, -1), node_keys[i]) == 0;
            if (!ok) {
                const char *bad = luaL_tolstring(L, -1, NULL);
                luaL_error(L, "%s: unknown parameter '%s' (valid: %s)", where, bad, l_joinlist(L, node_keys));
            }
        }
        read_params(L, v, &q, where);
    } else {
        luaL_error(L, "%s: rule name or {\"rule\", parameters...} expected, got %s", where, luaL_typename(L, v));
        return;
    }
    if (lrp_rule_named(name, &q, r) != SN_OK) luaL_error(L, "%s: %s", where, sn_errmsg());
}

/* Parses the LRP options in the table at `opts` (or none) for model m into
 * a userdata rules[m->nnodes] left on the stack. fixed >= 0: the composite
 * of a convenience name (fname), which opts may not set. Raises on anything
 * invalid, naming the option. */
static LrpRule *parse_rules(lua_State *L, const Model *m, int opts, int fixed, const char *fname) {
    opts = lua_absindex(L, opts);
    int has = !lua_isnoneornil(L, opts);
    if (has) luaL_checktype(L, opts, LUA_TTABLE);
    LrpParams p;
    lrp_params_default(&p);
    if (has) read_params(L, opts, &p, "option");
    int comp = fixed >= 0 ? fixed : LRP_C_EPSILON;
    if (has && lua_getfield(L, opts, "composite") != LUA_TNIL) {
        if (fixed >= 0)
            luaL_error(L, "option 'composite': %s uses composite '%s' (use attr.lrp to choose one)", fname,
                       lrp_composite_name(fixed));
        const char *cn = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || (comp = lrp_composite_from_name(cn)) < 0)
            luaL_error(L, "option 'composite': unknown LRP composite '%s' (valid: %s)", luaL_tolstring(L, -1, NULL),
                       lrp_composite_list());
    }
    if (has) lua_pop(L, 1);
    LrpRule *rules = lua_newuserdatauv(L, sizeof(LrpRule) * (size_t)m->nnodes, 0);
    int ud = lua_gettop(L);
    lrp_composite_rules(m, (LrpComposite)comp, &p, rules);
    if (has && lua_getfield(L, opts, "rules") != LUA_TNIL) {
        int rt = lua_gettop(L);
        if (!lua_istable(L, rt)) luaL_error(L, "option 'rules': table expected, got %s", luaL_typename(L, rt));
        /* pass 0: layer types; pass 1: layer names (they win) */
        for (int pass = 0; pass < 2; pass++) {
            lua_pushnil(L);
            while (lua_next(L, rt)) {
                if (lua_type(L, -2) != LUA_TSTRING)
                    luaL_error(L, "option 'rules': keys must be layer names or types, got %s", luaL_typename(L, -2));
                const char *key = lua_tostring(L, -2);
                int node = model_find(m, key), kind = node < 0 ? layer_kind_from_name(key) : -1;
                if (node < 0 && kind < 0)
                    luaL_error(L, "option 'rules': the model has no layer '%s' (layers: %s; or a layer type: %s)", key,
                               push_layer_names(L, m), layer_kind_list());
                if ((pass == 0) != (node < 0)) {
                    lua_pop(L, 1);
                    continue;
                }
                LrpRule r;
                parse_rule(L, key, &p, &r);
                lua_settop(L, rt + 2);
                if (node >= 0)
                    rules[node] = r;
                else
                    for (int i = 0; i < m->nnodes; i++)
                        if ((int)m->nodes[i].kind == kind) rules[i] = r;
                lua_pop(L, 1);
            }
        }
    }
    lua_settop(L, ud);
    if (has && lua_getfield(L, opts, "canonize") != LUA_TNIL) {
        if (!lua_isboolean(L, -1)) luaL_error(L, "option 'canonize': boolean expected, got %s", luaL_typename(L, -1));
        if (lua_toboolean(L, -1)) { /* merged batch norms pass relevance on, whatever was asked */
            int *bn_of = lua_newuserdatauv(L, sizeof(int) * (size_t)m->nnodes, 0);
            lrp_canonize_pairs(m, bn_of);
            for (int i = 0; i < m->nnodes; i++)
                if (bn_of[i] >= 0) rules[bn_of[i]].kind = LRP_PASS;
        }
    }
    lua_settop(L, ud);
    if (lrp_check_rules(m, rules) != SN_OK) l_raise(L);
    return rules;
}

static int run_lrp(lua_State *L, int fixed, const char *fname) {
    /* Validate the LRP options before l_attr_args puts the model in eval
     * mode: a raise in between would not restore it. */
    parse_rules(L, l_checkmodel(L, 1), 4, fixed, fname);
    lua_pop(L, 1);
    AttrCall c;
    l_attr_args(L, &c, lrp_extra);
    LrpRule *rules = parse_rules(L, c.run.model, c.opts, fixed, fname); /* valid: checked above */
    int canonize = l_optbool(L, c.opts, "canonize", 0);
    Tensor out;
    if (attr_lrp(&c.run, c.x, c.targets, rules, canonize, &out) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static int l_attr_lrp(lua_State *L) {
    return run_lrp(L, -1, "attr.lrp");
}
static int l_attr_lrp_epsilon(lua_State *L) {
    return run_lrp(L, LRP_C_EPSILON, "attr.lrp_epsilon");
}
static int l_attr_lrp_zplus(lua_State *L) {
    return run_lrp(L, LRP_C_ZPLUS, "attr.lrp_zplus");
}
static int l_attr_lrp_epsilon_plus(lua_State *L) {
    return run_lrp(L, LRP_C_EPSILON_PLUS, "attr.lrp_epsilon_plus");
}
static int l_attr_lrp_epsilon_gamma_box(lua_State *L) {
    return run_lrp(L, LRP_C_EPSILON_GAMMA_BOX, "attr.lrp_epsilon_gamma_box");
}
static int l_attr_lrp_alpha2_beta1(lua_State *L) {
    return run_lrp(L, LRP_C_ALPHA2_BETA1, "attr.lrp_alpha2_beta1");
}

/* attr.lrp_rules(model, opts) */
static int l_attr_lrp_rules(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        l_checkoptkeys(L, 2, lrp_extra);
    }
    lua_settop(L, 2);
    LrpRule *rules = parse_rules(L, m, 2, -1, "attr.lrp_rules");
    lua_createtable(L, m->nnodes, m->nnodes);
    for (int i = 0; i < m->nnodes; i++) {
        const LrpRule *r = &rules[i];
        lua_createtable(L, 0, 6);
        lua_pushstring(L, m->nodes[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, layer_kind_name(m->nodes[i].kind));
        lua_setfield(L, -2, "type");
        lua_pushstring(L, lrp_rule_name(r));
        lua_setfield(L, -2, "rule");
        if (r->kind != LRP_PASS && r->kind != LRP_WINNER_TAKE_ALL) {
            lua_pushnumber(L, r->epsilon);
            lua_setfield(L, -2, r->kind == LRP_EPSILON ? "epsilon" : "stabilizer");
        }
        if (r->kind == LRP_GAMMA) {
            lua_pushnumber(L, r->gamma);
            lua_setfield(L, -2, "gamma");
        }
        if (r->kind == LRP_ALPHA_BETA) {
            lua_pushnumber(L, r->alpha);
            lua_setfield(L, -2, "alpha");
            lua_pushnumber(L, r->beta);
            lua_setfield(L, -2, "beta");
        }
        if (r->kind == LRP_ZBOX) {
            if (r->low_t)
                lua_pushliteral(L, "tensor");
            else
                lua_pushnumber(L, r->low);
            lua_setfield(L, -2, "low");
            if (r->high_t)
                lua_pushliteral(L, "tensor");
            else
                lua_pushnumber(L, r->high);
            lua_setfield(L, -2, "high");
        }
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, m->nodes[i].name);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---- DeepLift ---------------------------------------------------------- */

static const char *const dl_extra[] = {"baseline", NULL};

/* Checks opts.baseline against x: nil/"zeros", a number, or a tensor with
 * one sample's elements or x's shape. Leaves it on the stack. */
static void check_baseline(lua_State *L, int opts, const Tensor *x) {
    if (lua_isnoneornil(L, opts) || !lua_istable(L, opts)) {
        lua_pushnil(L);
        return;
    }
    int t = lua_getfield(L, opts, "baseline");
    if (t == LUA_TNIL || t == LUA_TNUMBER) return;
    if (t == LUA_TSTRING) {
        if (strcmp(lua_tostring(L, -1), "zeros") != 0)
            l_opterror(L, opts, "baseline", "\"zeros\", a number or a tensor expected");
        return;
    }
    const Tensor *b = l_testtensor(L, -1);
    if (!b || !b->storage) l_opterror(L, opts, "baseline", "\"zeros\", a number or a tensor expected");
    if (tensor_numel(b) != tensor_row_numel(x) && !tensor_same_shape(b, x)) {
        char sb[128], sx[128];
        l_opterror(L, opts, "baseline",
                   lua_pushfstring(L, "a tensor with one sample's %d elements or the input's shape %s expected, got %s",
                                   (int)tensor_row_numel(x), tensor_shape_str(x, sx, sizeof sx),
                                   tensor_shape_str(b, sb, sizeof sb)));
    }
}

/* attr.deeplift(model, x, target, opts) -> attributions, delta */
static int l_attr_deeplift(lua_State *L) {
    l_checkmodel(L, 1);
    check_baseline(L, 4, l_checktensor(L, 2)); /* before l_attr_args changes the model's mode */
    AttrCall c;
    l_attr_args(L, &c, dl_extra);
    int64_t n = c.n;
    Tensor *delta = l_pushtensor(L, 1, &n);
    int di = lua_gettop(L);
    const Tensor *base = NULL;
    int t = lua_getfield(L, c.opts, "baseline");
    if (t == LUA_TNUMBER) {
        float v = (float)lua_tonumber(L, -1);
        Tensor *bt = l_pushtensor(L, c.x->ndim - 1, c.x->shape + 1);
        float *p = tensor_data(bt);
        for (int64_t i = 0, cnt = tensor_numel(bt); i < cnt; i++) p[i] = v;
        base = bt;
    } else if (t == LUA_TUSERDATA) {
        base = l_testtensor(L, -1);
    }
    Tensor out;
    if (attr_deeplift(&c.run, c.x, c.targets, base, &out, tensor_data(delta)) != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    lua_pushvalue(L, di);
    return 2;
}

const luaL_Reg l_attr_lrp_funcs[] = {{"lrp", l_attr_lrp},
                                     {"lrp_epsilon", l_attr_lrp_epsilon},
                                     {"lrp_zplus", l_attr_lrp_zplus},
                                     {"lrp_epsilon_plus", l_attr_lrp_epsilon_plus},
                                     {"lrp_epsilon_gamma_box", l_attr_lrp_epsilon_gamma_box},
                                     {"lrp_alpha2_beta1", l_attr_lrp_alpha2_beta1},
                                     {"_lrp_rules", l_attr_lrp_rules},
                                     {"deeplift", l_attr_deeplift},
                                     {NULL, NULL}};
