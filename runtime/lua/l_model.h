/* l_model.h — the sanity.Model userdata, for bindings that take or make
 * models (nn.sequential, weight files, attribution, randomization). */
#ifndef SANITY_L_MODEL_H
#define SANITY_L_MODEL_H

#include <lua.h>

#include "model.h"

#define MODEL_MT "sanity.Model"

/* The model at idx; raises "sanity.Model expected" or "model has been freed". */
Model *l_checkmodel(lua_State *L, int idx);
/* NULL when idx is not a model (or a freed one). */
Model *l_testmodel(lua_State *L, int idx);
/* Pushes a userdata that owns m (freed by __gc/__close/free). m must be
 * finished. Reports the model's size to the collector. */
void l_pushmodel(lua_State *L, Model *m);
/* Pushes config field f of cfg as Lua sees it (integers, booleans, the
 * shortest decimal of a float, {h, w} pairs, initializer names). */
void l_push_config_field(lua_State *L, const LayerConfig *cfg, const LayerField *f);
/* Index of a layer given by name or 1-based position at idx; raises with
 * the list of layer names when there is none. */
int l_checklayer(lua_State *L, const Model *m, int idx);

#endif
