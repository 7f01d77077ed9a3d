/* l_progress.h — sanity.progress{total=, label=}: progress bars for scripts
 * (host.c puts it in the `sanity` table). */
#ifndef SANITY_L_PROGRESS_H
#define SANITY_L_PROGRESS_H

#include <lua.h>

int l_progress_new(lua_State *L);

#endif
