// SPDX-License-Identifier: MIT
/*
 * The store (.asw) writer: a new store is filled under OUT.tmp.PID and renamed to OUT by
 * swap_writer_finish once every bundle and resident tensor is in (store-format.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swap_int.h"

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static int pwrite_full(int fd, const void *buf, uint64_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

struct swap_writer {
	struct swap_store s; /* layout and tables being filled */
	struct store_layout L;
	char *tmp;
	uint8_t *done;       /* one byte per bundle */
	uint8_t *res_done;
	uint64_t n_done;
	struct swap_resident_desc *res_desc;
};

uint64_t swap_writer_bundle_bytes(const struct swap_writer *w, enum swap_kind kind)
{
	return (unsigned)kind < SWAP_KIND_MAX ? w->s.bundle_bytes[kind] : 0;
}

static void writer_free(struct swap_writer *w)
{
	if (w->s.fd >= 0)
		close(w->s.fd);
	free(w->s.path);
	free(w->s.sect);
	free(w->s.crc);
	free(w->s.res);
	free(w->res_desc);
	free(w->tmp);
	free(w->done);
	free(w->res_done);
	free(w);
}

/* fsync the directory holding path; best effort (some filesystems refuse it) */
static void sync_parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) :
			    strdup(".");
	int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

void swap_writer_abort(struct swap_writer *w)
{
	if (!w)
		return;
	if (w->tmp)
		unlink(w->tmp);
	writer_free(w);
}

int swap_writer_create(struct swap_writer **out, const char *path,
		       const struct swap_store_desc *d, char *err, size_t errlen)
{
	struct swap_writer *w;
	size_t tl;
	int r;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->s.fd = -1;
	w->s.d = *d;
	for (uint32_t i = 0; i < d->n_resident && i <= 65536; i++) {
		if (!memchr(d->resident[i].name, 0, SWAP_NAME_MAX) || !d->resident[i].name[0]) {
			swap_seterr(err, errlen, "resident tensor %u: empty or too long name", i);
			writer_free(w);
			return -EINVAL;
		}
	}
	w->s.res = calloc((size_t)d->n_resident + 1, sizeof(*w->s.res));
	w->res_desc = calloc((size_t)d->n_resident + 1, sizeof(*w->res_desc));
	if (!w->s.res || !w->res_desc) {
		writer_free(w);
		return -ENOMEM;
	}
	if (d->n_resident && d->n_resident <= 65536)
		memcpy(w->res_desc, d->resident, (size_t)d->n_resident * sizeof(*w->res_desc));
	w->s.d.resident = w->res_desc;
	r = swap_store_layout(&w->s, &w->L, err, errlen);
	if (r) {
		writer_free(w);
		return r;
	}
	w->s.crc = calloc(w->s.n_bundles, 4);
	w->done = calloc(w->s.n_bundles, 1);
	w->res_done = calloc((size_t)d->n_resident + 1, 1);
	tl = strlen(path) + 32;
	w->tmp = malloc(tl);
	w->s.path = strdup(path);
	if (!w->s.crc || !w->done || !w->res_done || !w->tmp || !w->s.path) {
		writer_free(w);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < d->n_resident; i++)
		w->s.res[i].d = w->res_desc[i];
	snprintf(w->tmp, tl, "%s.tmp.%d", path, (int)getpid());
	/* a new file: never truncate or follow what another user placed under this name */
	w->s.fd = open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (w->s.fd < 0) {
		r = -errno;
		swap_seterr(err, errlen, "%s: %s", w->tmp, strerror(errno));
		free(w->tmp);
		w->tmp = NULL;
		writer_free(w);
		return r;
	}
	r = ftruncate(w->s.fd, (off_t)w->L.size) ? -errno : 0;
	if (!r && d->meta_len)
		r = pwrite_full(w->s.fd, d->meta, d->meta_len, w->L.meta_off);
	if (r) {
		swap_seterr(err, errlen, "%s: %s", w->tmp, strerror(-r));
		swap_writer_abort(w);
		return r;
	}
	w->s.d.meta = NULL;
	*out = w;
	return 0;
}

int swap_writer_resident(struct swap_writer *w, uint32_t idx, const void *data,
			 uint64_t len)
{
	int r;

	if (idx >= w->s.d.n_resident || len != w->res_desc[idx].size)
		return -EINVAL;
	r = pwrite_full(w->s.fd, data, len, w->s.res[idx].offset);
	if (r)
		return r;
	w->s.res[idx].crc = swap_crc32c(0, data, len);
	w->res_done[idx] = 1;
	return 0;
}

int swap_writer_bundle(struct swap_writer *w, struct swap_key key, const void *data)
{
	uint64_t b;
	int r;

	if (!swap_key_ok(&w->s, key))
		return -EINVAL;
	b = swap_bidx(&w->s, key);
	r = pwrite_full(w->s.fd, data, w->s.bundle_bytes[key.kind], swap_bundle_off(&w->s, key));
	if (r)
		return r;
	w->s.crc[b] = swap_crc32c(0, data, w->s.bundle_bytes[key.kind]);
	if (!w->done[b]) {
		w->done[b] = 1;
		w->n_done++;
	}
	return 0;
}

int swap_writer_finish(struct swap_writer *w, char *err, size_t errlen)
{
	uint8_t *h = NULL, *rd = NULL;
	uint64_t rlen = (uint64_t)w->s.d.n_resident * SWAP_RDIR_ENTRY;
	int r = 0;

	if (w->n_done != w->s.n_bundles) {
		for (uint64_t i = 0; i < w->s.n_bundles; i++) {
			if (w->done[i])
				continue;
			struct swap_key k = swap_key_of(&w->s, i);

			swap_seterr(err, errlen, "bundle layer %u kind %u channel %u was never "
				    "written", k.layer, k.kind, k.channel);
			break;
		}
		r = -EINVAL;
		goto out;
	}
	for (uint32_t i = 0; i < w->s.d.n_resident; i++) {
		if (!w->res_done[i]) {
			swap_seterr(err, errlen, "resident tensor '%s' was never written",
				    w->res_desc[i].name);
			r = -EINVAL;
			goto out;
		}
	}
	h = malloc(SWAP_HDR_BYTES);
	rd = calloc(1, rlen ? rlen : 1);
	if (!h || !rd) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < w->s.d.n_resident; i++) {
		uint8_t *e = rd + (uint64_t)i * SWAP_RDIR_ENTRY;
		const struct swap_resident_desc *x = &w->res_desc[i];

		memcpy(e, x->name, SWAP_NAME_MAX);
		put32(e + 64, x->type);
		put32(e + 68, x->n_dims);
		for (int j = 0; j < 4; j++)
			put64(e + 72 + 8 * j, x->ne[j]);
		put64(e + 104, w->s.res[i].offset);
		put64(e + 112, x->size);
		put32(e + 120, w->s.res[i].crc);
	}
	swap_store_encode_header(&w->s, &w->L, h);
	if ((r = pwrite_full(w->s.fd, rd, rlen, w->L.rdir_off)) ||
	    (r = pwrite_full(w->s.fd, w->s.crc, w->s.n_bundles * 4, w->L.crc_off)) ||
	    (r = pwrite_full(w->s.fd, w->s.sect, (uint64_t)w->s.n_groups * w->s.n_kinds * 8,
			     w->L.sect_off)) ||
	    (r = pwrite_full(w->s.fd, h, SWAP_HDR_BYTES, 0))) {
		swap_seterr(err, errlen, "%s: write: %s", w->tmp, strerror(-r));
		goto out;
	}
	if (fsync(w->s.fd) < 0 || rename(w->tmp, w->s.path) < 0) {
		r = -errno;
		swap_seterr(err, errlen, "%s: %s", w->s.path, strerror(errno));
		goto out;
	}
	free(w->tmp);
	w->tmp = NULL;
	sync_parent_dir(w->s.path); /* the rename itself survives a crash */
out:
	free(h);
	free(rd);
	swap_writer_abort(w);
	return r;
}
