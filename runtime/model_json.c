/* model_json.c — a model's architecture to and from JSON with cJSON (the
 * schema is in model.h). Weights are not part of it: weight files store this
 * text next to the tensors. Parsing validates every field and names the
 * node in its messages; model_add does the semantic checks. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

/* The shortest decimal that reads back as the same float (1e-05, not
 * 9.99999974737875e-06). */
static double float_to_json(float f) {
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static cJSON *config_json(const Node *n) {
    cJSON *cfg = cJSON_CreateObject();
    if (!cfg) return NULL;
    int nf;
    const LayerField *fs = layer_fields(n->kind, &nf);
    for (int i = 0; i < nf; i++) {
        const char *p = (const char *)&n->cfg + fs[i].offset;
        cJSON *v = NULL;
        switch (fs[i].type) {
        case FIELD_INT:
            v = cJSON_CreateNumber(*(const int *)p);
            break;
        case FIELD_BOOL:
            v = cJSON_CreateBool(*(const int *)p);
            break;
        case FIELD_FLOAT:
            v = cJSON_CreateNumber(float_to_json(*(const float *)p));
            break;
        case FIELD_INIT:
            v = cJSON_CreateString(init_kind_name(*(const InitKind *)p));
            break;
        case FIELD_PAIR:
            v = cJSON_CreateIntArray((const int *)p, 2);
            break;
        }
        if (!v || !cJSON_AddItemToObject(cfg, fs[i].name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(cfg);
            return NULL;
        }
    }
    return cfg;
}

char *model_to_json(const Model *m) {
    cJSON *root = cJSON_CreateObject(), *nodes = NULL;
    int ok =
        root && cJSON_AddStringToObject(root, "format", "sanity.model") && cJSON_AddNumberToObject(root, "version", 1);
    /* JSON numbers are doubles: seeds beyond 2^53 are written as strings */
    if (ok && m->seed <= (UINT64_C(1) << 53)) {
        ok = cJSON_AddNumberToObject(root, "seed", (double)m->seed) != NULL;
    } else if (ok) {
        char s[32];
        snprintf(s, sizeof s, "%llu", (unsigned long long)m->seed);
        ok = cJSON_AddStringToObject(root, "seed", s) != NULL;
    }
    if (ok && m->in_shape.ndim > 0) {
        cJSON *a = cJSON_AddArrayToObject(root, "input_shape");
        ok = a != NULL;
        for (int i = 1; ok && i < m->in_shape.ndim; i++)
            ok = cJSON_AddItemToArray(a, cJSON_CreateNumber((double)m->in_shape.dim[i]));
    }
    if (ok) ok = (nodes = cJSON_AddArrayToObject(root, "nodes")) != NULL;
    for (int i = 0; ok && i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        cJSON *o = cJSON_CreateObject(), *inputs = NULL, *cfg = NULL;
        ok = o && cJSON_AddItemToArray(nodes, o) && cJSON_AddStringToObject(o, "name", n->name) &&
             cJSON_AddStringToObject(o, "type", layer_kind_name(n->kind)) &&
             (inputs = cJSON_AddArrayToObject(o, "inputs")) != NULL;
        for (int k = 0; ok && k < n->ninputs; k++)
            ok = cJSON_AddItemToArray(
                inputs, cJSON_CreateString(n->inputs[k] == MODEL_INPUT ? "input" : m->nodes[n->inputs[k]].name));
        if (ok) ok = (cfg = config_json(n)) != NULL && cJSON_AddItemToObject(o, "config", cfg);
    }
    char *s = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s) sn_errorf("out of memory writing the model as JSON");
    return s;
}

/* ---- parsing ---- */

static int json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (d != floor(d) || d < (double)lo || d > (double)hi) return 0;
    *out = (int64_t)d;
    return 1;
}

/* Sets one config field from JSON; SN_ERR with a message naming the key. */
static int parse_field(LayerConfig *c, const LayerField *f, const cJSON *v) {
    char *p = (char *)c + f->offset;
    int64_t a, b;
    switch (f->type) {
    case FIELD_INT:
        if (!json_int(v, -1000000000, 1000000000, &a)) return sn_errorf("config '%s' must be an integer", f->name);
        *(int *)p = (int)a;
        return SN_OK;
    case FIELD_PAIR:
        if (json_int(v, -1000000000, 1000000000, &a)) {
            ((int *)p)[0] = ((int *)p)[1] = (int)a;
            return SN_OK;
        }
        if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 &&
            json_int(cJSON_GetArrayItem(v, 0), -1000000000, 1000000000, &a) &&
            json_int(cJSON_GetArrayItem(v, 1), -1000000000, 1000000000, &b)) {
            ((int *)p)[0] = (int)a, ((int *)p)[1] = (int)b;
            return SN_OK;
        }
        return sn_errorf("config '%s' must be an integer or a pair [h, w] of integers", f->name);
    case FIELD_BOOL:
        if (!cJSON_IsBool(v)) return sn_errorf("config '%s' must be true or false", f->name);
        *(int *)p = cJSON_IsTrue(v);
        return SN_OK;
    case FIELD_FLOAT:
        if (!cJSON_IsNumber(v)) return sn_errorf("config '%s' must be a number", f->name);
        *(float *)p = (float)v->valuedouble;
        return SN_OK;
    case FIELD_INIT: {
        int k = cJSON_IsString(v) ? init_kind_from_name(v->valuestring) : -1;
        if (k < 0) return sn_errorf("config '%s' must be one of: %s", f->name, init_kind_list());
        *(InitKind *)p = (InitKind)k;
        return SN_OK;
    }
    }
    return SN_ERR;
}

static int parse_config(LayerKind kind, const cJSON *cfg, LayerConfig *c) {
    layer_config_default(c, kind);
    if (cfg && !cJSON_IsObject(cfg)) return sn_errorf("'config' must be an object");
    int nf;
    const LayerField *fs = layer_fields(kind, &nf);
    for (const cJSON *it = cfg ? cfg->child : NULL; it; it = it->next) {
        int found = -1;
        for (int i = 0; i < nf && found < 0; i++)
            if (strcmp(fs[i].name, it->string) == 0) found = i;
        if (found < 0) {
            char valid[512] = "";
            for (int i = 0; i < nf; i++) {
                strncat(valid, i ? ", " : "", sizeof valid - strlen(valid) - 1);
                strncat(valid, fs[i].name, sizeof valid - strlen(valid) - 1);
            }
            return sn_errorf("unknown config key '%s' (valid: %s)", it->string, nf ? valid : "none");
        }
        if (parse_field(c, &fs[found], it) != SN_OK) return SN_ERR;
    }
    for (int i = 0; i < nf; i++)
        if (fs[i].required && !cJSON_GetObjectItemCaseSensitive(cfg, fs[i].name))
            return sn_errorf("missing config key '%s'", fs[i].name);
    /* pools: stride defaults to the kernel size, as in PyTorch */
    if ((kind == LAYER_MAXPOOL2D || kind == LAYER_AVGPOOL2D) && !cJSON_GetObjectItemCaseSensitive(cfg, "stride"))
        c->stride[0] = c->kernel[0], c->stride[1] = c->kernel[1];
    return SN_OK;
}

static int parse_node(Model *m, const cJSON *o, int index) {
    if (!cJSON_IsObject(o)) return sn_errorf("node %d is not an object", index + 1);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(name)) return sn_errorf("node %d: 'name' must be a string", index + 1);
    if (!cJSON_IsString(type))
        return sn_errorf("node %d ('%s'): 'type' must be a string", index + 1, name->valuestring);
    int kind = layer_kind_from_name(type->valuestring);
    if (kind < 0)
        return sn_errorf("node %d ('%s'): unknown layer type '%s' (known: %s)", index + 1, name->valuestring,
                         type->valuestring, layer_kind_list());
    for (const cJSON *it = o->child; it; it = it->next)
        if (strcmp(it->string, "name") && strcmp(it->string, "type") && strcmp(it->string, "inputs") &&
            strcmp(it->string, "config"))
            return sn_errorf("node %d ('%s'): unknown key '%s' (valid: name, type, inputs, config)", index + 1,
                             name->valuestring, it->string);
    LayerConfig cfg;
    if (parse_config((LayerKind)kind, cJSON_GetObjectItemCaseSensitive(o, "config"), &cfg) != SN_OK)
        return sn_errprefix("node %d ('%s'): ", index + 1, name->valuestring);
    int inputs[NODE_MAX_INPUTS], nin = 0;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "inputs");
    if (!in) {
        inputs[0] = m->nnodes - 1; /* the previous node, or MODEL_INPUT for the first */
        nin = 1;
    } else {
        if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) > NODE_MAX_INPUTS)
            return sn_errorf("node %d ('%s'): 'inputs' must be an array of at most %d names", index + 1,
                             name->valuestring, NODE_MAX_INPUTS);
        for (const cJSON *it = in->child; it; it = it->next) {
            if (!cJSON_IsString(it))
                return sn_errorf("node %d ('%s'): 'inputs' must hold layer names", index + 1, name->valuestring);
            int j = strcmp(it->valuestring, "input") == 0 ? MODEL_INPUT : model_find(m, it->valuestring);
            if (j == -1 && strcmp(it->valuestring, "input") != 0)
                return sn_errorf("node %d ('%s'): input '%s' is not an earlier layer", index + 1, name->valuestring,
                                 it->valuestring);
            inputs[nin++] = j;
        }
    }
    return model_add(m, name->valuestring, (LayerKind)kind, &cfg, nin, inputs) < 0 ? SN_ERR : SN_OK;
}

static int parse_model(Model **out, const cJSON *root) {
    if (!cJSON_IsObject(root)) return sn_errorf("the top level must be an object");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (fmt && !(cJSON_IsString(fmt) && strcmp(fmt->valuestring, "sanity.model") == 0))
        return sn_errorf("'format' must be \"sanity.model\"");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    int64_t v;
    if (ver && !(json_int(ver, 1, 1, &v))) return sn_errorf("unsupported 'version' (this build reads version 1)");
    uint64_t seed = 0;
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, "seed");
    if (js) {
        int64_t s;
        char *end = NULL;
        if (json_int(js, 0, INT64_C(1) << 53, &s))
            seed = (uint64_t)s;
        else if (cJSON_IsString(js) && js->valuestring[0] >= '0' && js->valuestring[0] <= '9')
            seed = strtoull(js->valuestring, &end, 10);
        if (!(json_int(js, 0, INT64_C(1) << 53, &s) || (end && !*end)))
            return sn_errorf("'seed' must be a non-negative integer");
    }
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    if (!cJSON_IsArray(nodes) || cJSON_GetArraySize(nodes) == 0) return sn_errorf("'nodes' must be a non-empty array");
    Model *m = model_new(seed);
    if (!m) return SN_ERR;
    *out = m;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(root, "input_shape");
    if (shape && !cJSON_IsNull(shape)) {
        int64_t dims[TENSOR_MAX_DIMS];
        int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
        if (nd < 1 || nd >= TENSOR_MAX_DIMS) return sn_errorf("'input_shape' must be an array of 1 to 7 sizes");
        for (int i = 0; i < nd; i++)
            if (!json_int(cJSON_GetArrayItem(shape, i), 1, INT64_C(1) << 40, &dims[i]))
                return sn_errorf("'input_shape' entries must be positive integers");
        if (model_set_input_shape(m, nd, dims) != SN_OK) return SN_ERR;
    }
    int i = 0;
    for (const cJSON *it = nodes->child; it; it = it->next, i++)
        if (parse_node(m, it, i) != SN_OK) return SN_ERR;
    return model_finish(m);
}

Model *model_from_json(const char *json) {
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        sn_errorf("model JSON: not valid JSON near '%.24s'", at && *at ? at : "(end)");
        return NULL;
    }
    Model *m = NULL;
    int rc = parse_model(&m, root);
    cJSON_Delete(root);
    if (rc != SN_OK) {
        sn_errprefix("model JSON: ");
        model_free(m);
        return NULL;
    }
    return m;
}
