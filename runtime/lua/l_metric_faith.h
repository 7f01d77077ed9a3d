/* l_metric_faith.h — adds the faithfulness, robustness and complexity
 * metrics (l_metric_faith.c) to the `metric` module table on top of the
 * stack; called by luaopen_sanity_metric. */
#ifndef SANITY_L_METRIC_FAITH_H
#define SANITY_L_METRIC_FAITH_H

#include <lua.h>

void l_metric_faith_register(lua_State *L);

#endif
