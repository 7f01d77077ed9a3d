/* grid.c — parsing sweep specs, the run product and run ids (see grid.h).
 * Values are typed with Lua's own string-to-number conversion (a scratch
 * state), so a value means here exactly what it means to `sanity run`. No
 * files, no processes: sweep.c does those. */
#include "cli/grid.h"

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "host.h"
#include "io/provenance.h"

static void value_free(GridValue *v) {
    free(v->text);
    free(v->canon);
}

static void key_free(GridKey *k) {
    for (int i = 0; i < k->n; i++) value_free(&k->values[i]);
    free(k->values);
    free(k->name);
    free(k->spec);
}

void grid_free(Grid *g) {
    for (int i = 0; i < g->nkeys; i++) key_free(&g->keys[i]);
    free(g->keys);
    memset(g, 0, sizeof *g);
}

int grid_find(const Grid *g, const char *key) {
    for (int i = 0; i < g->nkeys; i++)
        if (strcmp(g->keys[i].name, key) == 0) return i;
    return -1;
}

/* Shortest "%.Ng" that reads back as d, marked as a float ("1.0"). */
static void float_text(double d, char *buf, size_t n) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    if (!strpbrk(buf, ".eEni")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static char *dup(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Fills v from a token the way `sanity run` types it. SN_ERR: out of memory. */
static int type_token(lua_State *L, const char *tok, GridValue *v) {
    char buf[64];
    memset(v, 0, sizeof *v);
    if (strcmp(tok, "true") == 0 || strcmp(tok, "false") == 0) {
        v->type = GRID_BOOL;
        v->i = tok[0] == 't';
        v->canon = dup(tok);
    } else if (lua_stringtonumber(L, tok) != 0) {
        if (lua_isinteger(L, -1)) {
            v->type = GRID_INT;
            v->i = (int64_t)lua_tointeger(L, -1);
            snprintf(buf, sizeof buf, "%lld", (long long)v->i);
        } else {
            v->type = GRID_NUM;
            v->num = lua_tonumber(L, -1);
            float_text(v->num, buf, sizeof buf);
        }
        lua_pop(L, 1);
        v->canon = dup(buf);
    } else {
        v->type = GRID_STR;
        cJSON *s = cJSON_CreateString(tok);
        v->canon = s ? cJSON_PrintUnformatted(s) : NULL;
        cJSON_Delete(s);
    }
    v->text = dup(tok);
    if (!v->text || !v->canon) {
        value_free(v);
        return sn_errorf("out of memory parsing the sweep grid");
    }
    return SN_OK;
}

/* Digits after the decimal point of a plain decimal token, -1 when it uses
 * an exponent or hex (then values print with %.12g). */
static int decimals(const char *tok) {
    if (strpbrk(tok, "eExXpP")) return -1;
    const char *dot = strchr(tok, '.');
    if (!dot) return 0;
    int n = 0;
    for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++) n++;
    return n;
}

static int parse_range(lua_State *L, const char *arg, const char *spec, GridKey *k) {
    const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    char tok[3][128];
    if (!c1 || !c2 || strchr(c2 + 1, ':') || c1 == spec || c2 == c1 + 1 || !c2[1] ||
        (size_t)(c1 - spec) >= sizeof tok[0] || (size_t)(c2 - c1 - 1) >= sizeof tok[0] ||
        strlen(c2 + 1) >= sizeof tok[0])
        return sn_errorf("bad range '%s': expected start:stop:step, three numbers (e.g. %.*s=0:0.5:0.1)", arg,
                         (int)strcspn(arg, "="), arg);
    snprintf(tok[0], sizeof tok[0], "%.*s", (int)(c1 - spec), spec);
    snprintf(tok[1], sizeof tok[1], "%.*s", (int)(c2 - c1 - 1), c1 + 1);
    snprintf(tok[2], sizeof tok[2], "%s", c2 + 1);
    int all_int = 1;
    double d[3];
    int64_t iv[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (lua_stringtonumber(L, tok[i]) == 0)
            return sn_errorf("bad range '%s': '%s' is not a number (expected start:stop:step)", arg, tok[i]);
        if (lua_isinteger(L, -1))
            iv[i] = (int64_t)lua_tointeger(L, -1);
        else
            all_int = 0;
        d[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!isfinite(d[i])) return sn_errorf("bad range '%s': '%s' is not a finite number", arg, tok[i]);
    }
    if (d[2] == 0) return sn_errorf("bad range '%s': the step must not be 0", arg);
    if ((d[1] - d[0]) / d[2] < 0)
        return sn_errorf("empty range '%s': a step of %s never reaches %s from %s (count down with a negative "
                         "step, e.g. start:stop:-step)",
                         arg, tok[2], tok[1], tok[0]);
    int64_t n;
    if (all_int) {
        /* exact in long double for |values| < 2^63 (64-bit mantissa) */
        long double q = ((long double)iv[1] - (long double)iv[0]) / (long double)iv[2];
        n = q >= GRID_MAX_VALUES ? GRID_MAX_VALUES + 1 : (int64_t)floorl(q) + 1;
    } else {
        double q = (d[1] - d[0]) / d[2];
        q = floor(q + 1e-9 * (q > 1 ? q : 1));
        n = q >= GRID_MAX_VALUES ? GRID_MAX_VALUES + 1 : (int64_t)q + 1;
    }
    if (n > GRID_MAX_VALUES) return sn_errorf("range '%s' has more than %d values", arg, GRID_MAX_VALUES);
    k->values = calloc((size_t)n, sizeof *k->values);
    if (!k->values) return sn_errorf("out of memory parsing the sweep grid");
    int dec = decimals(tok[0]), ds = decimals(tok[2]);
    dec = dec < 0 || ds < 0 ? -1 : dec > ds ? dec : ds;
    for (int64_t i = 0; i < n; i++) {
        char buf[64];
        GridValue v;
        if (all_int) {
            snprintf(buf, sizeof buf, "%lld", (long long)(iv[0] + i * iv[2]));
        } else {
            double x = d[0] + (double)i * d[2];
            if (dec >= 0)
                snprintf(buf, sizeof buf, "%.*f", dec > 17 ? 17 : dec, x);
            else
                snprintf(buf, sizeof buf, "%.12g", x);
            if (strcmp(buf, "-0") == 0 || strncmp(buf, "-0.", 3) == 0) { /* -0.0 from rounding: print 0 */
                double back = strtod(buf, NULL);
                if (back == 0) memmove(buf, buf + 1, strlen(buf));
            }
            if (!strpbrk(buf, ".eEni")) strcat(buf, ".0"); /* stays a float for the run */
        }
        if (type_token(L, buf, &v) != SN_OK) return SN_ERR;
        k->values[k->n++] = v;
    }
    return SN_OK;
}

static int parse_list(lua_State *L, const char *arg, const char *spec, GridKey *k) {
    int n = 1;
    for (const char *p = spec; *p; p++) n += *p == ',';
    if (n > GRID_MAX_VALUES) return sn_errorf("list '%s' has more than %d values", arg, GRID_MAX_VALUES);
    k->values = calloc((size_t)n, sizeof *k->values);
    if (!k->values) return sn_errorf("out of memory parsing the sweep grid");
    for (const char *p = spec;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0) return sn_errorf("'%s': empty element in list", arg);
        char *tok = strndup(p, len);
        if (!tok) return sn_errorf("out of memory parsing the sweep grid");
        GridValue v;
        int rc = type_token(L, tok, &v);
        free(tok);
        if (rc != SN_OK) return SN_ERR;
        for (int i = 0; i < k->n; i++)
            if (strcmp(k->values[i].canon, v.canon) == 0) {
                sn_errorf("'%s': value '%s' appears twice", arg, v.text);
                value_free(&v);
                return SN_ERR;
            }
        k->values[k->n++] = v;
        if (!c) break;
        p = c + 1;
    }
    return SN_OK;
}

/* "[a,b,c]": one value, a list the run receives as key=a,b,c (typed per
 * element, as `sanity run` types comma lists); canonical JSON ["a","b","c"]. */
static int parse_fixed_list(lua_State *L, const char *arg, const char *spec, GridKey *k) {
    size_t len = strlen(spec);
    if (len < 3 || spec[len - 1] != ']')
        return sn_errorf("'%s': a fixed list is written [v1,v2,...] (non-empty, closed with ']')", arg);
    char *inner = strndup(spec + 1, len - 2);
    k->values = calloc(1, sizeof *k->values);
    size_t cap = 2 * len + 16, used = 0;
    char *canon = malloc(cap);
    if (!inner || !k->values || !canon) {
        free(inner), free(canon);
        return sn_errorf("out of memory parsing the sweep grid");
    }
    canon[used++] = '[';
    int rc = SN_OK;
    for (const char *p = inner; rc == SN_OK;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char *tok = strndup(p, n);
        GridValue v;
        if (!tok) rc = sn_errorf("out of memory parsing the sweep grid");
        else if (n == 0 || strchr(tok, '[') || strchr(tok, ']')) rc = sn_errorf("'%s': empty or nested element in list", arg);
        else rc = type_token(L, tok, &v);
        free(tok);
        if (rc != SN_OK) break;
        size_t need = strlen(v.canon) + 2;
        if (used + need + 1 > cap) {
            char *bigger = realloc(canon, cap = 2 * (used + need + 1));
            if (!bigger) rc = sn_errorf("out of memory parsing the sweep grid");
            else canon = bigger;
        }
        if (rc == SN_OK) used += (size_t)snprintf(canon + used, cap - used, "%s%s", used > 1 ? "," : "", v.canon);
        value_free(&v);
        if (!c) break;
        p = c + 1;
    }
    if (rc == SN_OK) {
        canon[used++] = ']';
        canon[used] = '\0';
        k->values[0] = (GridValue){.type = GRID_STR, .text = inner, .canon = canon};
        k->n = 1;
        return SN_OK;
    }
    free(inner), free(canon);
    return SN_ERR;
}

int grid_add(Grid *g, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq) return sn_errorf("'%s' is not key=values (e.g. noise=0.1,0.2 or noise=0:0.5:0.1 or method=ig)", arg);
    size_t klen = (size_t)(eq - arg);
    if (!host_valid_key(arg, klen))
        return sn_errorf("'%.*s' is not a valid key (letters, digits, '_', dots between names)", (int)klen, arg);
    static const char *const reserved[][2] = {
        {"out", "each run writes DIR/runs/<id>.h5; give the sweep's DIR with --out"},
        {"threads", "use --threads"},
        {"resume", "use --resume"},
        {"id", "merged files use it for the run ids"},
        {"run", "merged files use it as the run dimension"},
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i][0]) == klen && strncmp(arg, reserved[i][0], klen) == 0)
            return sn_errorf("key '%s' is reserved in sweeps (%s)", reserved[i][0], reserved[i][1]);
    for (int i = 0; i < g->nkeys; i++)
        if (strlen(g->keys[i].name) == klen && strncmp(g->keys[i].name, arg, klen) == 0)
            return sn_errorf("key '%s' is given twice (list all its values in one argument: %s=v1,v2)", g->keys[i].name,
                             g->keys[i].name);
    const char *spec = eq + 1;
    if (!*spec) return sn_errorf("'%s' has no values (give a value, a list v1,v2 or a range start:stop:step)", arg);
    if (g->nkeys == GRID_MAX_KEYS) return sn_errorf("a sweep takes at most %d keys", GRID_MAX_KEYS);
    GridKey *keys = realloc(g->keys, (size_t)(g->nkeys + 1) * sizeof *keys);
    if (!keys) return sn_errorf("out of memory parsing the sweep grid");
    g->keys = keys;
    GridKey k = {0};
    k.name = strndup(arg, klen);
    k.spec = strdup(spec);
    lua_State *L = luaL_newstate();
    int rc = !k.name || !k.spec || !L ? sn_errorf("out of memory parsing the sweep grid")
             : spec[0] == '['         ? parse_fixed_list(L, arg, spec, &k)
             : strchr(spec, ':')      ? parse_range(L, arg, spec, &k)
                                      : parse_list(L, arg, spec, &k);
    if (L) lua_close(L);
    if (rc != SN_OK) {
        key_free(&k);
        return SN_ERR;
    }
    g->keys[g->nkeys++] = k;
    return SN_OK;
}

static int cmp_key(const void *a, const void *b) {
    return strcmp(((const GridKey *)a)->name, ((const GridKey *)b)->name);
}

int grid_finish(Grid *g) {
    qsort(g->keys, (size_t)g->nkeys, sizeof *g->keys, cmp_key);
    int64_t n = 1;
    for (int i = 0; i < g->nkeys; i++) {
        n *= g->keys[i].n;
        if (n > GRID_MAX_RUNS) return sn_errorf("the grid has more than %d runs; split the sweep", GRID_MAX_RUNS);
    }
    g->nruns = n;
    return SN_OK;
}

void grid_run(const Grid *g, int64_t r, int *idx) {
    for (int i = g->nkeys - 1; i >= 0; i--) {
        idx[i] = (int)(r % g->keys[i].n);
        r /= g->keys[i].n;
    }
}

char *grid_config_json(const Grid *g, int64_t r) {
    int *idx = malloc((size_t)(g->nkeys ? g->nkeys : 1) * sizeof *idx);
    if (!idx) return NULL;
    grid_run(g, r, idx);
    size_t len = 3;
    for (int i = 0; i < g->nkeys; i++) len += strlen(g->keys[i].name) * 6 + strlen(g->keys[i].values[idx[i]].canon) + 8;
    char *out = malloc(len), *p = out;
    if (out) {
        *p++ = '{';
        for (int i = 0; i < g->nkeys; i++) {
            cJSON *name = cJSON_CreateString(g->keys[i].name); /* keys are plain, but escape anyway */
            char *qn = name ? cJSON_PrintUnformatted(name) : NULL;
            cJSON_Delete(name);
            if (!qn) {
                free(out);
                out = NULL;
                break;
            }
            p += sprintf(p, "%s%s:%s", i ? "," : "", qn, g->keys[i].values[idx[i]].canon);
            free(qn);
        }
        if (out) strcpy(p, "}");
    }
    free(idx);
    return out;
}

int grid_run_id(const Grid *g, const char *script_name, int64_t r, char id[GRID_ID_LEN + 1]) {
    char *json = grid_config_json(g, r);
    if (!json) return sn_errorf("out of memory naming sweep runs");
    size_t n = strlen(script_name) + strlen(json) + 32;
    char *text = malloc(n);
    if (!text) {
        free(json);
        return sn_errorf("out of memory naming sweep runs");
    }
    int len = snprintf(text, n, "sanity-sweep/1\n%s\n%s", script_name, json);
    char hex[65];
    provenance_sha256(text, (size_t)len, hex);
    memcpy(id, hex, GRID_ID_LEN);
    id[GRID_ID_LEN] = '\0';
    free(text);
    free(json);
    return SN_OK;
}

int grid_distance(const char *a, const char *b) {
    /* optimal string alignment: a swap of neighbours counts 1 ("nosie") */
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}
