// SPDX-License-Identifier: MIT
/*
 * A store's every crc32c checked, with progress (as_convert_verify, activeswap/convert.h:
 * `activeswap convert --verify` and as_convert's params.verify).
 */
#include <errno.h>
#include <string.h>

#include "activeswap/convert.h"
#include "libswap.h"
#include "errmsg.h"

struct verify_ctx {
	const struct as_convert_params *p;
	uint64_t done, total;
};

static void verify_progress(void *arg, uint64_t n)
{
	struct verify_ctx *v = arg;

	v->done += n;
	if (v->done > v->total)
		v->done = v->total;
	v->p->progress(v->p->arg, AS_CONVERT_VERIFY, v->done, v->total);
}

int as_convert_verify(const char *path, const struct as_convert_params *p,
		      struct as_convert_result *res, char *err, size_t errlen)
{
	struct as_convert_params none;
	struct swap_store *s;
	struct verify_ctx v;
	char e[512] = "";
	int r;

	if (!p) {
		as_convert_params_init(&none);
		p = &none;
	}
	if (!path) {
		as_seterr(err, errlen, "no store to verify");
		return -EINVAL;
	}
	r = swap_store_open(&s, path, e, sizeof(e));
	if (r) {
		as_seterr(err, errlen, "%s", e);
		return r;
	}
	v.p = p;
	v.done = 0;
	v.total = swap_store_swappable_bytes(s);
	if (p->progress)
		p->progress(p->arg, AS_CONVERT_VERIFY, 0, v.total);
	r = swap_store_verify(s, p->progress ? verify_progress : NULL, &v, e, sizeof(e));
	if (r) {
		as_seterr(err, errlen, "%s: verify failed: %s", path, e[0] ? e : strerror(-r));
		swap_store_close(s);
		return r;
	}
	if (res) {
		const struct swap_store_desc *d = swap_store_desc(s);

		res->n_layers = d->n_layers;
		res->group = d->group;
		res->n_resident = swap_store_n_resident(s);
		res->n_bundles = swap_store_n_bundles(s);
		res->file_size = swap_store_file_size(s);
	}
	swap_store_close(s);
	return 0;
}
