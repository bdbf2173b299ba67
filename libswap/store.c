// SPDX-License-Identifier: MIT
/*
 * The store (.asw) file: layout and reader (the writer is store_write.c). Byte-level
 * specification in Documentation/store-format.md; every field read from a file is
 * validated before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "swap_int.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the store format is little-endian; add byte swapping for this host"
#endif

void swap_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Header field offsets (Documentation/store-format.md, "Header"). */
enum {
	H_MAGIC = 0, H_VERSION = 8, H_HDR_BYTES = 12, H_FILE_SIZE = 16, H_N_LAYERS = 24,
	H_GROUP = 28, H_N_GROUPS = 32, H_N_RESIDENT = 36, H_META_OFF = 40, H_META_LEN = 48,
	H_RDIR_OFF = 56, H_CRC_OFF = 64, H_SECT_OFF = 72, H_DATA_OFF = 80, H_DATA_LEN = 88,
	H_HPARAMS = 96, H_KINDS = 128, H_KIND_BYTES = 64, H_ALIGN = 384, H_N_EXPERT = 388,
	H_EXPERT_COLS = 392, /* version 5: cols of SWAP_FFN_IN, then of SWAP_FFN_OUT */
	H_KINDS_LOW = 512, /* version 4: the kind records of SWAP_FFN_IN_LOW, SWAP_FFN_OUT_LOW */
};

/* Where kind k's 64-byte record is in the header. */
static uint32_t kind_rec(int k)
{
	return k < SWAP_KIND_COUNT ? H_KINDS + k * H_KIND_BYTES :
				     H_KINDS_LOW + (k - SWAP_KIND_COUNT) * H_KIND_BYTES;
}

struct swap_key swap_key_of(const struct swap_store *s, uint64_t bidx)
{
	struct swap_key k;
	uint64_t r = bidx % s->per_layer;

	k.layer = (uint32_t)(bidx / s->per_layer);
	k.kind = s->n_kinds - 1;
	while (k.kind > 0 && r < s->kind_base[k.kind])
		k.kind--;
	k.channel = (uint32_t)(r - s->kind_base[k.kind]);
	return k;
}

static uint32_t group_layers(const struct swap_store *s, uint32_t g)
{
	uint32_t first = g * s->d.group;
	uint32_t n = s->d.n_layers - first;

	return n < s->d.group ? n : s->d.group;
}

uint64_t swap_bundle_off(const struct swap_store *s, struct swap_key k)
{
	uint32_t g = k.layer / s->d.group;
	uint64_t nl = group_layers(s, g);

	return s->sect[(uint64_t)g * s->n_kinds + k.kind] +
	       ((uint64_t)k.channel * nl + (k.layer - g * s->d.group)) * s->bundle_bytes[k.kind];
}

bool swap_file_next(const struct swap_store *s, struct swap_key k, struct swap_key *out)
{
	uint32_t g = k.layer / s->d.group;
	uint32_t first = g * s->d.group;

	*out = k;
	if (k.layer + 1 < first + group_layers(s, g)) {
		out->layer++;
		return true;
	}
	if (k.channel + 1 >= s->d.kinds[k.kind].in)
		return false;
	out->channel++;
	out->layer = first;
	return true;
}

bool swap_file_prev(const struct swap_store *s, struct swap_key k, struct swap_key *out)
{
	uint32_t g = k.layer / s->d.group;
	uint32_t first = g * s->d.group;

	*out = k;
	if (k.layer > first) {
		out->layer--;
		return true;
	}
	if (k.channel == 0)
		return false;
	out->channel--;
	out->layer = first + group_layers(s, g) - 1;
	return true;
}

static int add_ov(uint64_t *acc, uint64_t v)
{
	if (__builtin_add_overflow(*acc, v, acc))
		return -EOVERFLOW;
	return 0;
}

static int add_aligned(uint64_t *off, uint64_t len)
{
	if (add_ov(off, len) || add_ov(off, SWAP_ALIGN - 1))
		return -EOVERFLOW;
	*off &= ~(uint64_t)(SWAP_ALIGN - 1);
	return 0;
}

int swap_store_layout(struct swap_store *s, struct store_layout *L, char *err, size_t errlen)
{
	const struct swap_store_desc *d = &s->d;
	uint64_t off = SWAP_HDR_BYTES, bb;

	if (d->n_layers == 0 || d->n_layers > SWAP_MAX_LAYERS) {
		swap_seterr(err, errlen, "layer count %u out of range 1..%u", d->n_layers,
			    SWAP_MAX_LAYERS);
		return -EINVAL;
	}
	if (d->group == 0 || d->group > d->n_layers) {
		swap_seterr(err, errlen, "layer group size %u out of range 1..%u", d->group,
			    d->n_layers);
		return -EINVAL;
	}
	if (d->n_resident > 65536 || d->meta_len > (1ull << 32)) {
		swap_seterr(err, errlen, "too many resident tensors or metadata too large");
		return -EINVAL;
	}
	if (d->n_expert > SWAP_MAX_EXPERTS ||
	    (d->n_expert && (d->kinds[SWAP_FFN_IN].in != d->n_expert ||
			     d->kinds[SWAP_FFN_OUT].in != d->n_expert))) {
		swap_seterr(err, errlen, "expert count %u out of range 0..%u or not the FFN "
			    "kinds' bundle count", d->n_expert, SWAP_MAX_EXPERTS);
		return -EINVAL;
	}
	/* the low copies: both kinds or neither, each holding every expert */
	s->n_kinds = d->kinds[SWAP_FFN_IN_LOW].in || d->kinds[SWAP_FFN_OUT_LOW].in ?
		     SWAP_KIND_MAX : SWAP_KIND_COUNT;
	if (s->n_kinds == SWAP_KIND_MAX && (!d->n_expert ||
					    d->kinds[SWAP_FFN_IN_LOW].in != d->n_expert ||
					    d->kinds[SWAP_FFN_OUT_LOW].in != d->n_expert)) {
		swap_seterr(err, errlen, "low-precision expert kinds with %u and %u bundles "
			    "for %u experts", d->kinds[SWAP_FFN_IN_LOW].in,
			    d->kinds[SWAP_FFN_OUT_LOW].in, d->n_expert);
		return -EINVAL;
	}
	memset(s->bundle_bytes, 0, sizeof(s->bundle_bytes));
	s->per_layer = 0;
	for (int k = 0; k < (int)s->n_kinds; k++) {
		const struct swap_kind_desc *kd = &d->kinds[k];

		if (kd->in == 0 || kd->in > SWAP_MAX_CHANNELS || kd->n_mats == 0 ||
		    kd->n_mats > SWAP_MAX_MATS) {
			swap_seterr(err, errlen, "bundle kind %d: bad channel count %u or matrix "
				    "count %u", k, kd->in, kd->n_mats);
			return -EINVAL;
		}
		bb = 0;
		for (uint32_t m = 0; m < kd->n_mats; m++) {
			if (kd->mats[m].col_bytes == 0 || kd->mats[m].col_bytes > (1u << 28) ||
			    kd->mats[m].out == 0) {
				swap_seterr(err, errlen, "bundle kind %d matrix %u: bad column size",
					    k, m);
				return -EINVAL;
			}
			bb += kd->mats[m].col_bytes;
		}
		/* expert columns: the FFN kinds of a store with experts, no low copies */
		if (kd->cols && (!d->n_expert || (k != SWAP_FFN_IN && k != SWAP_FFN_OUT) ||
				 s->n_kinds != SWAP_KIND_COUNT || kd->cols > SWAP_MAX_CHANNELS ||
				 !d->kinds[SWAP_FFN_IN].cols || !d->kinds[SWAP_FFN_OUT].cols ||
				 __builtin_mul_overflow(bb, (uint64_t)kd->cols, &bb) ||
				 bb > (1ull << 30))) {
			swap_seterr(err, errlen, "bundle kind %d: %u columns per bundle (only "
				    "both expert kinds of a store without low copies, at most "
				    "1 GiB a bundle)", k, kd->cols);
			return -EINVAL;
		}
		s->bundle_bytes[k] = bb;
		s->kind_base[k] = s->per_layer;
		s->per_layer += kd->in;
	}
	for (int k = (int)s->n_kinds; k < SWAP_KIND_MAX; k++)
		s->kind_base[k] = s->per_layer;
	s->n_groups = (d->n_layers + d->group - 1) / d->group;
	s->n_bundles = s->per_layer * d->n_layers;
	L->meta_off = off;
	if (add_aligned(&off, d->meta_len))
		goto ov;
	L->rdir_off = off;
	if (add_aligned(&off, (uint64_t)d->n_resident * SWAP_RDIR_ENTRY))
		goto ov;
	L->crc_off = off;
	if (add_aligned(&off, s->n_bundles * 4))
		goto ov;
	L->sect_off = off;
	if (add_aligned(&off, (uint64_t)s->n_groups * s->n_kinds * 8))
		goto ov;
	L->res_start = off;
	for (uint32_t i = 0; i < d->n_resident; i++) {
		if (s->res)
			s->res[i].offset = off;
		if (add_aligned(&off, d->resident[i].size))
			goto ov;
	}
	L->data_off = off;
	free(s->sect);
	s->sect = calloc((size_t)s->n_groups * s->n_kinds, sizeof(*s->sect));
	if (!s->sect) {
		swap_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t g = 0; g < s->n_groups; g++) {
		for (int k = 0; k < (int)s->n_kinds; k++) {
			uint64_t len;

			s->sect[g * s->n_kinds + k] = off;
			if (__builtin_mul_overflow((uint64_t)d->kinds[k].in * group_layers(s, g),
						   s->bundle_bytes[k], &len) ||
			    add_aligned(&off, len))
				goto ov;
		}
	}
	L->data_len = off - L->data_off;
	L->size = off;
	return 0;
ov:
	swap_seterr(err, errlen, "store layout overflows 64 bits");
	return -EOVERFLOW;
}

int swap_layout(struct swap_store *s, uint64_t *file_size, char *err, size_t errlen)
{
	struct store_layout L;
	int r = swap_store_layout(s, &L, err, errlen);

	if (!r)
		*file_size = L.size;
	return r;
}

void swap_store_encode_header(const struct swap_store *s, const struct store_layout *L, uint8_t *h)
{
	const struct swap_store_desc *d = &s->d;

	memset(h, 0, SWAP_HDR_BYTES);
	memcpy(h + H_MAGIC, SWAP_MAGIC, 8);
	/* a store without experts stays version 2, readable by older builds */
	put32(h + H_VERSION, swap_store_version(s));
	put32(h + H_HDR_BYTES, SWAP_HDR_BYTES);
	put64(h + H_FILE_SIZE, L->size);
	put32(h + H_N_LAYERS, d->n_layers);
	put32(h + H_GROUP, d->group);
	put32(h + H_N_GROUPS, s->n_groups);
	put32(h + H_N_RESIDENT, d->n_resident);
	put64(h + H_META_OFF, L->meta_off);
	put64(h + H_META_LEN, d->meta_len);
	put64(h + H_RDIR_OFF, L->rdir_off);
	put64(h + H_CRC_OFF, L->crc_off);
	put64(h + H_SECT_OFF, L->sect_off);
	put64(h + H_DATA_OFF, L->data_off);
	put64(h + H_DATA_LEN, L->data_len);
	put32(h + H_HPARAMS + 0, d->hp.dim);
	put32(h + H_HPARAMS + 4, d->hp.hidden);
	put32(h + H_HPARAMS + 8, d->hp.n_heads);
	put32(h + H_HPARAMS + 12, d->hp.n_kv_heads);
	put32(h + H_HPARAMS + 16, d->hp.vocab);
	put32(h + H_HPARAMS + 20, d->hp.n_ctx);
	memcpy(h + H_HPARAMS + 24, &d->hp.rms_eps, 4);
	memcpy(h + H_HPARAMS + 28, &d->hp.rope_theta, 4);
	for (int k = 0; k < (int)s->n_kinds; k++) {
		uint8_t *p = h + kind_rec(k);

		put32(p, d->kinds[k].in);
		put32(p + 4, d->kinds[k].n_mats);
		put64(p + 8, s->bundle_bytes[k]);
		for (uint32_t m = 0; m < d->kinds[k].n_mats; m++) {
			put32(p + 16 + m * 16, d->kinds[k].mats[m].out);
			put32(p + 20 + m * 16, d->kinds[k].mats[m].type);
			put32(p + 24 + m * 16, d->kinds[k].mats[m].col_bytes);
		}
	}
	put32(h + H_ALIGN, SWAP_ALIGN);
	put32(h + H_N_EXPERT, d->n_expert);
	if (d->kinds[SWAP_FFN_IN].cols) {
		put32(h + H_EXPERT_COLS, d->kinds[SWAP_FFN_IN].cols);
		put32(h + H_EXPERT_COLS + 4, d->kinds[SWAP_FFN_OUT].cols);
	}
	put32(h + SWAP_HDR_CRC_OFF, swap_crc32c(0, h, SWAP_HDR_CRC_OFF));
}

int64_t swap_pread(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;
	uint64_t done = 0;

	if (len > INT64_MAX)
		return -EINVAL;
	while (done < len) {
		uint64_t want = len - done > (1u << 30) ? (1u << 30) : len - done;
		ssize_t n = pread(fd, p + done, want, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	return (int64_t)done;
}

static int pread_full(int fd, void *buf, uint64_t len, uint64_t off)
{
	int64_t n = swap_pread(fd, buf, len, off);

	return n < 0 ? (int)n : (uint64_t)n < len ? -EIO : 0;
}

/* ---- reader ----------------------------------------------------------------------- */

void swap_store_close(struct swap_store *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s->sect);
	free(s->crc);
	free(s->meta);
	free(s->res);
	free(s->res_desc);
	free(s);
}

int swap_store_open(struct swap_store **out, const char *path, char *err, size_t errlen)
{
	struct swap_store *s;
	uint8_t *h = NULL, *rd = NULL;
	struct stat st;
	struct store_layout L;
	uint64_t *sect_disk = NULL;
	int r, n_kinds;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		r = -errno;
		swap_seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		swap_seterr(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	h = malloc(SWAP_HDR_BYTES);
	if (!h || !s->path) {
		r = -ENOMEM;
		goto fail;
	}
	r = -EBADMSG;
	if (s->file_size < SWAP_HDR_BYTES || pread_full(s->fd, h, SWAP_HDR_BYTES, 0)) {
		swap_seterr(err, errlen, "%s: too short for a store header", path);
		goto fail;
	}
	if (memcmp(h, SWAP_MAGIC, 8)) {
		swap_seterr(err, errlen, "%s: not an activeswap store (bad magic)", path);
		goto fail;
	}
	if (get32(h + H_VERSION) < SWAP_STORE_VERSION_MIN ||
	    get32(h + H_VERSION) > SWAP_STORE_VERSION) {
		swap_seterr(err, errlen, "%s: store version %u, this build reads %u..%u (%s)",
			    path, get32(h + H_VERSION), SWAP_STORE_VERSION_MIN,
			    SWAP_STORE_VERSION, get32(h + H_VERSION) < SWAP_STORE_VERSION_MIN ?
			    "convert the model again" : "a newer activeswap wrote it");
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	if (get32(h + SWAP_HDR_CRC_OFF) != swap_crc32c(0, h, SWAP_HDR_CRC_OFF)) {
		swap_seterr(err, errlen, "%s: header checksum mismatch", path);
		goto fail;
	}
	if (get32(h + H_HDR_BYTES) != SWAP_HDR_BYTES || get32(h + H_ALIGN) != SWAP_ALIGN) {
		swap_seterr(err, errlen, "%s: unsupported header size or alignment", path);
		goto fail;
	}
	s->d.n_expert = get32(h + H_N_EXPERT);
	if ((get32(h + H_VERSION) == 2) != (s->d.n_expert == 0)) {
		swap_seterr(err, errlen, "%s: store version %u with %u experts (version 2 has "
			    "none, 3 to 5 have some)", path, get32(h + H_VERSION),
			    s->d.n_expert);
		goto fail;
	}
	/* version 5: the experts in the column layout (before: reserved, not read) */
	if (get32(h + H_VERSION) == 5) {
		s->d.kinds[SWAP_FFN_IN].cols = get32(h + H_EXPERT_COLS);
		s->d.kinds[SWAP_FFN_OUT].cols = get32(h + H_EXPERT_COLS + 4);
		if (!s->d.kinds[SWAP_FFN_IN].cols || !s->d.kinds[SWAP_FFN_OUT].cols) {
			swap_seterr(err, errlen, "%s: store version 5 without expert columns",
				    path);
			goto fail;
		}
	}
	/* version 4: the low-precision expert kinds' records (not read before: reserved) */
	n_kinds = get32(h + H_VERSION) == 4 ? SWAP_KIND_MAX : SWAP_KIND_COUNT;
	s->d.n_layers = get32(h + H_N_LAYERS);
	s->d.group = get32(h + H_GROUP);
	s->d.n_resident = get32(h + H_N_RESIDENT);
	s->d.meta_len = get64(h + H_META_LEN);
	s->d.hp.dim = get32(h + H_HPARAMS);
	s->d.hp.hidden = get32(h + H_HPARAMS + 4);
	s->d.hp.n_heads = get32(h + H_HPARAMS + 8);
	s->d.hp.n_kv_heads = get32(h + H_HPARAMS + 12);
	s->d.hp.vocab = get32(h + H_HPARAMS + 16);
	s->d.hp.n_ctx = get32(h + H_HPARAMS + 20);
	memcpy(&s->d.hp.rms_eps, h + H_HPARAMS + 24, 4);
	memcpy(&s->d.hp.rope_theta, h + H_HPARAMS + 28, 4);
	for (int k = 0; k < n_kinds; k++) {
		const uint8_t *p = h + kind_rec(k);
		struct swap_kind_desc *kd = &s->d.kinds[k];

		kd->in = get32(p);
		kd->n_mats = get32(p + 4);
		if (kd->n_mats > SWAP_MAX_MATS) {
			swap_seterr(err, errlen, "%s: kind %d has %u matrices", path, k,
				    kd->n_mats);
			goto fail;
		}
		for (uint32_t m = 0; m < kd->n_mats; m++) {
			kd->mats[m].out = get32(p + 16 + m * 16);
			kd->mats[m].type = get32(p + 20 + m * 16);
			kd->mats[m].col_bytes = get32(p + 24 + m * 16);
		}
	}
	/* Resident sizes are needed for the layout: read the directory first (its offset
	 * is fixed by the metadata length, which the layout check confirms below). */
	if (s->d.n_resident > 65536 || s->d.meta_len > s->file_size) {
		swap_seterr(err, errlen, "%s: bad resident count or metadata length", path);
		goto fail;
	}
	{
		uint64_t rdir_off = get64(h + H_RDIR_OFF);
		uint64_t rlen = (uint64_t)s->d.n_resident * SWAP_RDIR_ENTRY;

		if (rdir_off > s->file_size || rlen > s->file_size - rdir_off) {
			swap_seterr(err, errlen, "%s: resident directory outside the file", path);
			goto fail;
		}
		rd = malloc(rlen ? rlen : 1);
		s->res = calloc(s->d.n_resident + 1, sizeof(*s->res));
		s->res_desc = calloc(s->d.n_resident + 1, sizeof(*s->res_desc));
		if (!rd || !s->res || !s->res_desc) {
			r = -ENOMEM;
			goto fail;
		}
		if ((r = pread_full(s->fd, rd, rlen, rdir_off)) < 0) {
			swap_seterr(err, errlen, "%s: reading the resident directory: %s", path,
				    strerror(-r));
			goto fail;
		}
		r = -EBADMSG;
		for (uint32_t i = 0; i < s->d.n_resident; i++) {
			const uint8_t *e = rd + (uint64_t)i * SWAP_RDIR_ENTRY;
			struct swap_resident_desc *rdd = &s->res_desc[i];

			if (!memchr(e, 0, SWAP_NAME_MAX)) {
				swap_seterr(err, errlen, "%s: resident tensor %u: name not "
					    "terminated", path, i);
				goto fail;
			}
			memcpy(rdd->name, e, SWAP_NAME_MAX);
			rdd->type = get32(e + 64);
			rdd->n_dims = get32(e + 68);
			for (int j = 0; j < 4; j++)
				rdd->ne[j] = get64(e + 72 + 8 * j);
			s->res[i].offset = get64(e + 104);
			rdd->size = get64(e + 112);
			s->res[i].crc = get32(e + 120);
			if (rdd->n_dims < 1 || rdd->n_dims > 4 || rdd->size > s->file_size) {
				swap_seterr(err, errlen, "%s: resident tensor '%s': bad shape or "
					    "size", path, rdd->name);
				goto fail;
			}
		}
		s->d.resident = s->res_desc;
	}
	{
		/* Recompute the layout from the description and demand the same offsets. */
		uint64_t *disk_off = malloc(((size_t)s->d.n_resident + 1) * 8);

		if (!disk_off) {
			r = -ENOMEM;
			goto fail;
		}
		for (uint32_t i = 0; i < s->d.n_resident; i++)
			disk_off[i] = s->res[i].offset;
		r = swap_store_layout(s, &L, err, errlen);
		if (!r && (int)s->n_kinds != n_kinds) {
			swap_seterr(err, errlen, "store version 4 without low-precision experts");
			r = -EINVAL;
		}
		if (r) {
			free(disk_off);
			goto fail;
		}
		r = -EBADMSG;
		for (uint32_t i = 0; i < s->d.n_resident; i++) {
			if (disk_off[i] != s->res[i].offset) {
				free(disk_off);
				swap_seterr(err, errlen, "%s: resident tensor '%s' at a wrong "
					    "offset", path, s->res_desc[i].name);
				goto fail;
			}
			s->res[i].d = s->res_desc[i];
		}
		free(disk_off);
	}
	if (get32(h + H_N_GROUPS) != s->n_groups || get64(h + H_META_OFF) != L.meta_off ||
	    get64(h + H_RDIR_OFF) != L.rdir_off || get64(h + H_CRC_OFF) != L.crc_off ||
	    get64(h + H_SECT_OFF) != L.sect_off || get64(h + H_DATA_OFF) != L.data_off ||
	    get64(h + H_DATA_LEN) != L.data_len || get64(h + H_FILE_SIZE) != L.size) {
		swap_seterr(err, errlen, "%s: header offsets disagree with the layout", path);
		goto fail;
	}
	for (int k = 0; k < n_kinds; k++) {
		if (get64(h + kind_rec(k) + 8) != s->bundle_bytes[k]) {
			swap_seterr(err, errlen, "%s: kind %d bundle size disagrees", path, k);
			goto fail;
		}
	}
	if (s->file_size < L.size) {
		swap_seterr(err, errlen, "%s: truncated (%llu bytes, header says %llu)", path,
			    (unsigned long long)s->file_size, (unsigned long long)L.size);
		goto fail;
	}
	s->data_off = L.data_off;
	s->data_len = L.data_len;
	s->crc = malloc(s->n_bundles * 4);
	s->meta = malloc(s->d.meta_len ? s->d.meta_len : 1);
	sect_disk = malloc((size_t)s->n_groups * n_kinds * 8);
	if (!s->crc || !s->meta || !sect_disk) {
		r = -ENOMEM;
		swap_seterr(err, errlen, "out of memory");
		goto fail;
	}
	if ((r = pread_full(s->fd, s->crc, s->n_bundles * 4, L.crc_off)) ||
	    (r = pread_full(s->fd, s->meta, s->d.meta_len, L.meta_off)) ||
	    (r = pread_full(s->fd, sect_disk, (size_t)s->n_groups * n_kinds * 8,
			    L.sect_off))) {
		swap_seterr(err, errlen, "%s: reading tables: %s", path, strerror(-r));
		goto fail;
	}
	if (memcmp(sect_disk, s->sect, (size_t)s->n_groups * n_kinds * 8)) {
		r = -EBADMSG;
		swap_seterr(err, errlen, "%s: section table disagrees with the layout", path);
		goto fail;
	}
	s->d.meta = s->meta;
	free(sect_disk);
	free(h);
	free(rd);
	*out = s;
	return 0;
fail:
	free(sect_disk);
	free(h);
	free(rd);
	swap_store_close(s);
	return r;
}

const char *swap_store_path(const struct swap_store *s) { return s->path; }
uint32_t swap_store_version(const struct swap_store *s)
{
	if (s->d.kinds[SWAP_FFN_IN].cols)
		return 5;
	return s->n_kinds == SWAP_KIND_MAX ? 4 : s->d.n_expert ? 3 : 2;
}

uint32_t swap_store_n_kinds(const struct swap_store *s) { return s->n_kinds; }
const struct swap_store_desc *swap_store_desc(const struct swap_store *s) { return &s->d; }
uint64_t swap_store_file_size(const struct swap_store *s) { return s->file_size; }
uint64_t swap_store_n_bundles(const struct swap_store *s) { return s->n_bundles; }
uint32_t swap_store_n_resident(const struct swap_store *s) { return s->d.n_resident; }

const char *swap_kind_name(enum swap_kind kind)
{
	static const char *const names[SWAP_KIND_MAX] = { "attn_in", "attn_out", "ffn_in",
							   "ffn_out", "ffn_in_low",
							   "ffn_out_low" };

	return (unsigned)kind < SWAP_KIND_MAX ? names[kind] : NULL;
}

uint64_t swap_store_bundle_bytes(const struct swap_store *s, enum swap_kind kind)
{
	return (unsigned)kind < SWAP_KIND_MAX ? s->bundle_bytes[kind] : 0;
}

uint64_t swap_store_swappable_bytes(const struct swap_store *s)
{
	uint64_t t = 0;

	for (int k = 0; k < (int)s->n_kinds; k++)
		t += (uint64_t)s->d.kinds[k].in * s->bundle_bytes[k];
	return t * s->d.n_layers;
}

int swap_store_bundle_loc(const struct swap_store *s, struct swap_key key, uint64_t *off,
			  uint64_t *len)
{
	if (!swap_key_ok(s, key))
		return -EINVAL;
	*off = swap_bundle_off(s, key);
	*len = s->bundle_bytes[key.kind];
	return 0;
}

uint32_t swap_store_bundle_crc(const struct swap_store *s, struct swap_key key)
{
	return swap_key_ok(s, key) ? s->crc[swap_bidx(s, key)] : 0;
}

int swap_store_read_bundle(const struct swap_store *s, struct swap_key key, void *dst)
{
	if (!swap_key_ok(s, key))
		return -EINVAL;
	return pread_full(s->fd, dst, s->bundle_bytes[key.kind], swap_bundle_off(s, key));
}

const struct swap_resident *swap_store_resident(const struct swap_store *s, uint32_t i)
{
	return i < s->d.n_resident ? &s->res[i] : NULL;
}

const struct swap_resident *swap_store_find_resident(const struct swap_store *s,
						     const char *name)
{
	for (uint32_t i = 0; i < s->d.n_resident; i++)
		if (!strcmp(s->res[i].d.name, name))
			return &s->res[i];
	return NULL;
}

int swap_store_read_resident(const struct swap_store *s, const struct swap_resident *r,
			     void *dst)
{
	return pread_full(s->fd, dst, r->d.size, r->offset);
}

int swap_store_verify(const struct swap_store *s, void (*progress)(void *, uint64_t),
		      void *arg, char *err, size_t errlen)
{
	uint64_t chunk = 8u << 20, maxb = 0;
	uint8_t *buf;
	int r = 0;

	for (uint32_t i = 0; i < s->d.n_resident; i++) {
		uint64_t sz = s->res[i].d.size;
		void *p = malloc(sz ? sz : 1);

		if (!p)
			return -ENOMEM;
		r = pread_full(s->fd, p, sz, s->res[i].offset);
		if (!r && swap_crc32c(0, p, sz) != s->res[i].crc) {
			swap_seterr(err, errlen, "resident tensor '%s': checksum mismatch",
				    s->res[i].d.name);
			r = -EBADMSG;
		}
		free(p);
		if (r)
			return r;
		if (progress)
			progress(arg, sz);
	}
	for (int k = 0; k < (int)s->n_kinds; k++)
		if (s->bundle_bytes[k] > maxb)
			maxb = s->bundle_bytes[k];
	if (chunk < maxb * s->d.group)
		chunk = maxb * s->d.group;
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	/* Walk each section sequentially in chunks of whole runs. */
	for (uint32_t g = 0; g < s->n_groups && !r; g++) {
		for (int k = 0; k < (int)s->n_kinds && !r; k++) {
			uint64_t nl = group_layers(s, g), run = nl * s->bundle_bytes[k];
			uint64_t per = chunk / run, in = s->d.kinds[k].in;

			for (uint64_t c0 = 0; c0 < in && !r; c0 += per) {
				uint64_t nc = in - c0 < per ? in - c0 : per;
				struct swap_key key = { g * s->d.group, (uint32_t)k,
							(uint32_t)c0 };

				r = pread_full(s->fd, buf, nc * run, swap_bundle_off(s, key));
				if (r) {
					swap_seterr(err, errlen, "reading bundles: %s",
						    strerror(-r));
					break;
				}
				for (uint64_t i = 0; i < nc * nl; i++) {
					key.channel = (uint32_t)(c0 + i / nl);
					key.layer = g * s->d.group + (uint32_t)(i % nl);
					if (swap_crc32c(0, buf + i * s->bundle_bytes[k],
							s->bundle_bytes[k]) ==
					    s->crc[swap_bidx(s, key)])
						continue;
					swap_seterr(err, errlen, "bundle layer %u kind %d channel "
						    "%u: checksum mismatch", key.layer, k,
						    key.channel);
					r = -EBADMSG;
					break;
				}
				if (progress)
					progress(arg, nc * run);
			}
		}
	}
	free(buf);
	return r;
}
