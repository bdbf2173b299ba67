// SPDX-License-Identifier: MIT
/*
 * The dense row copy of a store: resident and streamed layers (swaprows.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "activeswap/kernels.h"
#include "activeswap/quant.h"
#include "swaprows.h"

#define NBUF 2

enum { B_IDLE, B_QUEUED, B_READING, B_READY, B_ERROR };

struct rows_mat {
	const struct swap_resident *res;
	enum ggml_type type;
	uint64_t rows, cols, row_bytes;
	uint64_t boff; /* offset inside the layer's memory */
	uint64_t alen; /* bytes read: size rounded up to SWAP_ALIGN */
};

struct rows_layer_stats {
	uint64_t reads, bytes, stall_ns;
};

struct as_rows {
	const struct swap_store *st;
	int fd;
	bool direct, verify;
	uint32_t n_layers, n_res;
	struct rows_mat *mat;    /* [n_layers][AS_OP_COUNT] */
	uint64_t *lbytes;        /* [n_layers] */
	bool *repacked;          /* [n_layers][AS_OP_COUNT]: repacked in place after reads */
	uint8_t *rtmp;           /* one 16-row group, for repacking */
	uint8_t *res_base;       /* resident layers 0 .. n_res-1, back to back */
	uint64_t res_len;
	uint64_t *res_off;       /* [n_res] */
	uint8_t *buf[NBUF];
	uint64_t buf_len;
	int nbuf;

	pthread_t th;
	bool started, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state[NBUF];
	int err[NBUF];
	int64_t layer_of[NBUF]; /* layer held, queued or being read; -1 */
	bool in_use[NBUF];
	int64_t last_assigned;  /* most recently assigned streamed layer; -1 */
	struct rows_layer_stats *ls;
	uint64_t stall_ns;       /* sum of ls[].stall_ns */
};

static uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t align_up(uint64_t v)
{
	return (v + SWAP_ALIGN - 1) & ~(uint64_t)(SWAP_ALIGN - 1);
}

bool as_rows_is_matrix_name(const char *name)
{
	const char *p;
	char *end;

	if (strncmp(name, "blk.", 4))
		return false;
	p = name + 4;
	if (*p < '0' || *p > '9')
		return false;
	strtoul(p, &end, 10);
	if (*end != '.')
		return false;
	for (int i = 0; i < AS_OP_COUNT; i++) {
		const char *op = as_op_name((enum as_op)i);
		size_t l = strlen(op);

		if (!strncmp(end + 1, op, l) && !strcmp(end + 1 + l, ".weight"))
			return true;
	}
	return false;
}

/* The (rows, cols) a Llama layer matrix must have, from the store's hyper-parameters. */
static void mat_shape(const struct swap_store_desc *d, int op, uint64_t *rows, uint64_t *cols)
{
	uint64_t dim = d->hp.dim, hid = d->hp.hidden, q, kv;

	as_rows_widths(d, &q, &kv);
	switch (op) {
	case AS_OP_Q:
		*rows = q;
		*cols = dim;
		break;
	case AS_OP_O:
		*rows = dim;
		*cols = q;
		break;
	case AS_OP_K:
	case AS_OP_V:
		*rows = kv;
		*cols = dim;
		break;
	case AS_OP_GATE:
	case AS_OP_UP:
		*rows = hid;
		*cols = dim;
		break;
	default: /* AS_OP_DOWN */
		*rows = dim;
		*cols = hid;
		break;
	}
}

/* Fill mat[] and lbytes[] (both may be NULL: count only). */
static int scan(const struct swap_store *st, struct rows_mat *mat, uint64_t *lbytes,
		uint64_t *total, uint64_t *max_layer, char *err, size_t errlen)
{
	const struct swap_store_desc *d = swap_store_desc(st);
	uint32_t found = 0, missing = 0;
	uint64_t tot = 0, mx = 0;
	char name[SWAP_NAME_MAX], first_missing[SWAP_NAME_MAX] = "";

	for (uint32_t i = 0; i < d->n_resident; i++)
		found += as_rows_is_matrix_name(d->resident[i].name);
	if (!found)
		return -ENOENT;
	for (uint32_t l = 0; l < d->n_layers; l++) {
		uint64_t lb = 0;

		for (int op = 0; op < AS_OP_COUNT; op++) {
			const struct swap_resident *r;
			uint64_t rows, cols, rb, need;
			enum ggml_type t;

			snprintf(name, sizeof(name), "blk.%u.%s.weight", l,
				 as_op_name((enum as_op)op));
			r = swap_store_find_resident(st, name);
			if (!r) {
				if (!missing++)
					snprintf(first_missing, sizeof(first_missing), "%s", name);
				continue;
			}
			mat_shape(d, op, &rows, &cols);
			t = (enum ggml_type)r->d.type;
			if (!as_type_supported(t) || r->d.n_dims != 2 || r->d.ne[0] != cols ||
			    r->d.ne[1] != rows || r->d.ne[2] != 1 || r->d.ne[3] != 1 ||
			    as_row_bytes(t, cols, &rb) || __builtin_mul_overflow(rb, rows, &need) ||
			    need != r->d.size || (t == GGML_TYPE_F32 ? rb % 4 : rb % 2)) {
				snprintf(err, errlen, "store: row copy %s has the wrong type or shape "
					 "(want %llu x %llu)", name, (unsigned long long)rows,
					 (unsigned long long)cols);
				return -EINVAL;
			}
			if (mat) {
				struct rows_mat *x = &mat[(size_t)l * AS_OP_COUNT + op];

				x->res = r;
				x->type = t;
				x->rows = rows;
				x->cols = cols;
				x->row_bytes = rb;
				x->boff = lb;
				x->alen = align_up(need);
			}
			lb += align_up(need);
		}
		if (lbytes)
			lbytes[l] = lb;
		tot += lb;
		if (lb > mx)
			mx = lb;
	}
	if (missing) {
		snprintf(err, errlen, "store: incomplete row copy: %u of %u layer matrices "
			 "missing (first %s)", missing, d->n_layers * AS_OP_COUNT, first_missing);
		return -EINVAL;
	}
	if (total)
		*total = tot;
	if (max_layer)
		*max_layer = mx;
	return 0;
}

int as_rows_check(const struct swap_store *st, uint64_t *total, uint64_t *max_layer,
		  char *err, size_t errlen)
{
	return scan(st, NULL, NULL, total, max_layer, err, errlen);
}

/* The least memory for weights: everything, or NBUF layer buffers when that is less. */
static uint64_t min_bytes(uint64_t total, uint64_t max_layer)
{
	return NBUF * max_layer < total ? NBUF * max_layer : total;
}

/* Read matrix x into dst: alen bytes (a multiple of SWAP_ALIGN; the file may end before:
 * the tail is zeroed). Then optionally check its size bytes against the crc. */
static int read_mat(struct as_rows *r, const struct rows_mat *x, uint8_t *dst)
{
	uint64_t size = x->res->d.size;
	int64_t done = swap_pread(r->fd, dst, x->alen, x->res->offset);

	if (done < 0)
		return (int)done;
	if ((uint64_t)done < size)
		return -EIO;
	memset(dst + done, 0, x->alen - (uint64_t)done);
	if (!r->direct)
		posix_fadvise(r->fd, (off_t)x->res->offset, (off_t)x->alen, POSIX_FADV_DONTNEED);
	if (r->verify && swap_crc32c(0, dst, size) != x->res->crc)
		return -EBADMSG;
	return 0;
}

static int read_layer(struct as_rows *r, uint32_t l, uint8_t *base)
{
	for (int op = 0; op < AS_OP_COUNT; op++) {
		const struct rows_mat *x = &r->mat[(size_t)l * AS_OP_COUNT + op];
		int rc = read_mat(r, x, base + x->boff);

		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Repack layer l's matrices of the types as_repack_useful() takes at base into their X16
 * layouts in place, 16 rows at a time (a group of 16 rows takes the same bytes in both
 * layouts). Resident and streamed layers
 * both go through here: the X16 kernels do not round exactly as the plain ones, so every
 * layer must take the same path for the logits not to depend on the budget.
 */
static int repack_layer(struct as_rows *r, uint32_t l, uint8_t *base)
{
	for (int op = 0; op < AS_OP_COUNT; op++) {
		const struct rows_mat *x = &r->mat[(size_t)l * AS_OP_COUNT + op];
		uint64_t gb = 16 * x->row_bytes;

		if (!r->repacked[(size_t)l * AS_OP_COUNT + op])
			continue;
		for (uint64_t g = 0; g < x->rows / 16; g++) {
			uint8_t *p = base + x->boff + g * gb;
			int t = as_repack(x->type, p, 16, x->cols, r->rtmp);

			if (t < 0)
				return t;
			memcpy(p, r->rtmp, gb);
		}
	}
	return 0;
}

static void *reader(void *arg)
{
	struct as_rows *r = arg;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		int b = -1;

		while (!r->stop) {
			for (int i = 0; i < r->nbuf && b < 0; i++)
				if (r->state[i] == B_QUEUED)
					b = i;
			if (b >= 0)
				break;
			pthread_cond_wait(&r->cv, &r->mu);
		}
		if (r->stop)
			break;
		r->state[b] = B_READING;
		{
			uint32_t l = (uint32_t)r->layer_of[b];
			int rc;

			pthread_mutex_unlock(&r->mu);
			rc = read_layer(r, l, r->buf[b]);
			if (!rc)
				rc = repack_layer(r, l, r->buf[b]);
			pthread_mutex_lock(&r->mu);
			r->err[b] = rc;
			r->state[b] = rc ? B_ERROR : B_READY;
			r->ls[l].reads++;
			if (!rc)
				r->ls[l].bytes += r->lbytes[l];
		}
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int64_t next_streamed(const struct as_rows *r, int64_t l)
{
	uint32_t ns = r->n_layers - r->n_res;

	if (!ns)
		return -1;
	if (l < (int64_t)r->n_res || l + 1 >= (int64_t)r->n_layers)
		return r->n_res;
	return l + 1;
}

static int buf_of(const struct as_rows *r, int64_t l)
{
	for (int i = 0; i < r->nbuf; i++)
		if (r->layer_of[i] == l)
			return i;
	return -1;
}

/* Give every free buffer the next streamed layer not yet in a buffer. Under mu. */
static void fill(struct as_rows *r)
{
	for (int i = 0; i < r->nbuf; i++) {
		int64_t n;

		if (r->in_use[i] || r->state[i] != B_IDLE)
			continue;
		n = next_streamed(r, r->last_assigned);
		if (n < 0 || buf_of(r, n) >= 0)
			return;
		r->layer_of[i] = n;
		r->state[i] = B_QUEUED;
		r->err[i] = 0;
		r->last_assigned = n;
		pthread_cond_broadcast(&r->cv);
	}
}

int as_rows_open(struct as_rows **out, const struct swap_store *st, uint64_t avail,
		 bool verify, char *err, size_t errlen)
{
	const struct swap_store_desc *d = swap_store_desc(st);
	struct as_rows *r;
	uint64_t total = 0, mx = 0, minb, res = 0;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->st = st;
	r->fd = -1;
	r->verify = verify;
	r->n_layers = d->n_layers;
	r->last_assigned = -1;
	for (int i = 0; i < NBUF; i++)
		r->layer_of[i] = -1;
	r->mat = calloc((size_t)d->n_layers * AS_OP_COUNT, sizeof(*r->mat));
	r->repacked = calloc((size_t)d->n_layers * AS_OP_COUNT, sizeof(*r->repacked));
	r->lbytes = calloc(d->n_layers, sizeof(*r->lbytes));
	r->res_off = calloc(d->n_layers, sizeof(*r->res_off));
	r->ls = calloc(d->n_layers, sizeof(*r->ls));
	if (!r->mat || !r->repacked || !r->lbytes || !r->res_off || !r->ls) {
		rc = -ENOMEM;
		goto nomem;
	}
	rc = scan(st, r->mat, r->lbytes, &total, &mx, err, errlen);
	if (rc) {
		if (rc == -ENOENT)
			snprintf(err, errlen, "store: no row copy (convert --rows)");
		goto fail;
	}
	{
		uint64_t maxg = 0;

		for (size_t i = 0; i < (size_t)d->n_layers * AS_OP_COUNT; i++) {
			const struct rows_mat *x = &r->mat[i];
			uint64_t gb = 16 * x->row_bytes, xb;

			r->repacked[i] = as_repack_useful(x->type) && x->rows % 16 == 0 &&
					 !as_repack_size(x->type, 16, x->cols, &xb) && xb == gb;
			if (r->repacked[i] && gb > maxg)
				maxg = gb;
		}
		if (maxg) {
			r->rtmp = malloc(maxg);
			if (!r->rtmp) {
				rc = -ENOMEM;
				goto nomem;
			}
		}
	}
	minb = min_bytes(total, mx);
	if (avail < minb) {
		snprintf(err, errlen, "two layers of the row copy (its streaming buffers) need "
			 "%.1f MiB, %.1f MiB left", minb / 1048576.0, avail / 1048576.0);
		rc = -ENOSPC;
		goto fail;
	}
	/* the longest prefix of layers that fits beside the streaming buffers */
	if (total <= avail) {
		r->n_res = d->n_layers;
	} else {
		uint64_t used = 0;

		/* layer l resident leaves the layers after it streamed (at least one) */
		for (uint32_t l = 0; l + 1 < d->n_layers; l++) {
			uint32_t left = d->n_layers - l - 1;

			if (used + r->lbytes[l] + (left < NBUF ? left : NBUF) * mx > avail)
				break;
			used += r->lbytes[l];
			r->n_res = l + 1;
		}
		r->nbuf = d->n_layers - r->n_res < NBUF ? (int)(d->n_layers - r->n_res) : NBUF;
	}
	for (uint32_t l = 0; l < r->n_res; l++) {
		r->res_off[l] = res;
		res += r->lbytes[l];
	}
	r->res_len = res;
	r->buf_len = mx;

	/* as libswap's backends: buffered where the file system refuses O_DIRECT */
	r->fd = open(swap_store_path(st), O_RDONLY | O_CLOEXEC | O_DIRECT);
	r->direct = r->fd >= 0;
	if (r->fd < 0 && errno == EINVAL)
		r->fd = open(swap_store_path(st), O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", swap_store_path(st), strerror(errno));
		goto fail;
	}
	if (res) {
		r->res_base = mmap(NULL, res, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->res_base == MAP_FAILED) {
			r->res_base = NULL;
			rc = -ENOMEM;
			goto nomem;
		}
		madvise(r->res_base, res, MADV_HUGEPAGE);
	}
	for (int i = 0; i < r->nbuf; i++) {
		r->buf[i] = mmap(NULL, mx, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1, 0);
		if (r->buf[i] == MAP_FAILED) {
			r->buf[i] = NULL;
			rc = -ENOMEM;
			goto nomem;
		}
	}
	/* resident layers: read, then repack (as_repack_useful) in place 16 rows at a time (a
	 * group of 16 rows takes the same bytes in both layouts) */
	for (uint32_t l = 0; l < r->n_res; l++) {
		uint8_t *base = r->res_base + r->res_off[l];

		rc = read_layer(r, l, base);
		if (rc) {
			snprintf(err, errlen, "store: reading the row copy of layer %u: %s", l,
				 rc == -EBADMSG ? "crc32c mismatch" : strerror(-rc));
			goto fail;
		}
		rc = repack_layer(r, l, base);
		if (rc) {
			snprintf(err, errlen, "repacking the row copy: %s", strerror(-rc));
			goto fail;
		}
	}
	if (r->nbuf) {
		pthread_mutex_init(&r->mu, NULL);
		pthread_cond_init(&r->cv, NULL);
		rc = -pthread_create(&r->th, NULL, reader, r);
		if (rc) {
			pthread_mutex_destroy(&r->mu);
			pthread_cond_destroy(&r->cv);
			snprintf(err, errlen, "cannot start the row reader: %s", strerror(-rc));
			goto fail;
		}
		r->started = true;
		pthread_mutex_lock(&r->mu);
		fill(r);
		pthread_mutex_unlock(&r->mu);
	}
	*out = r;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory for the row copy");
fail:
	as_rows_close(r);
	return rc;
}

void as_rows_close(struct as_rows *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stop = true;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->th, NULL);
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
	}
	if (r->fd >= 0)
		close(r->fd);
	if (r->res_base)
		munmap(r->res_base, r->res_len);
	for (int i = 0; i < NBUF; i++)
		if (r->buf[i])
			munmap(r->buf[i], r->buf_len);
	free(r->mat);
	free(r->repacked);
	free(r->rtmp);
	free(r->lbytes);
	free(r->res_off);
	free(r->ls);
	free(r);
}

static void fill_weights(const struct as_rows *r, uint32_t l, const uint8_t *base,
			 struct as_weight *w)
{
	for (int op = 0; op < AS_OP_COUNT; op++) {
		const struct rows_mat *x = &r->mat[(size_t)l * AS_OP_COUNT + op];

		w[op].type = r->repacked[(size_t)l * AS_OP_COUNT + op]
				     ? (enum ggml_type)as_repacked_type(x->type) : x->type;
		w[op].data = base + x->boff;
		w[op].rows = x->rows;
		w[op].cols = x->cols;
		w[op].row_bytes = x->row_bytes;
	}
}

int as_rows_layer(struct as_rows *r, uint32_t l, struct as_weight *w)
{
	uint64_t t0;
	int b, rc;

	if (l >= r->n_layers)
		return -EINVAL;
	if (l < r->n_res) {
		fill_weights(r, l, r->res_base + r->res_off[l], w);
		return 0;
	}
	t0 = ns_now();
	pthread_mutex_lock(&r->mu);
	b = buf_of(r, l);
	if (b < 0) {
		/* not predicted (first token after an error): read it now into a free buffer */
		for (;;) {
			for (int i = 0; i < r->nbuf && b < 0; i++)
				if (!r->in_use[i] && r->state[i] != B_QUEUED &&
				    r->state[i] != B_READING)
					b = i;
			if (b >= 0)
				break;
			pthread_cond_wait(&r->cv, &r->mu);
		}
		r->layer_of[b] = l;
		r->state[b] = B_QUEUED;
		r->last_assigned = l;
		pthread_cond_broadcast(&r->cv);
	}
	r->in_use[b] = true;
	while (r->state[b] == B_QUEUED || r->state[b] == B_READING)
		pthread_cond_wait(&r->cv, &r->mu);
	rc = r->state[b] == B_ERROR ? r->err[b] : 0;
	t0 = ns_now() - t0; /* now the stall */
	r->ls[l].stall_ns += t0;
	r->stall_ns += t0;
	if (rc) {
		/* drop it: the next call reads it again */
		r->in_use[b] = false;
		r->layer_of[b] = -1;
		r->state[b] = B_IDLE;
	}
	pthread_mutex_unlock(&r->mu);
	if (!rc)
		fill_weights(r, l, r->buf[b], w);
	return rc;
}

void as_rows_layer_done(struct as_rows *r, uint32_t l)
{
	int b;

	if (l < r->n_res || l >= r->n_layers)
		return;
	pthread_mutex_lock(&r->mu);
	b = buf_of(r, l);
	if (b >= 0 && r->in_use[b]) {
		r->in_use[b] = false;
		r->layer_of[b] = -1;
		r->state[b] = B_IDLE;
	}
	fill(r);
	pthread_mutex_unlock(&r->mu);
}

uint32_t as_rows_resident_layers(const struct as_rows *r)
{
	return r->n_res;
}

uint64_t as_rows_mem_bytes(const struct as_rows *r)
{
	return r->res_len + (uint64_t)r->nbuf * r->buf_len;
}

const char *as_rows_io_name(const struct as_rows *r)
{
	return r->direct ? "rows-odirect" : "rows-buffered";
}

void as_rows_layer_stats(struct as_rows *r, uint32_t l, uint64_t *reads,
			 uint64_t *bytes, uint64_t *stall_ns)
{
	*reads = *bytes = *stall_ns = 0;
	if (l >= r->n_layers)
		return;
	if (r->started)
		pthread_mutex_lock(&r->mu);
	*reads = r->ls[l].reads;
	*bytes = r->ls[l].bytes;
	*stall_ns = r->ls[l].stall_ns;
	if (r->started)
		pthread_mutex_unlock(&r->mu);
}

uint64_t as_rows_stall_ns(struct as_rows *r)
{
	uint64_t t;

	if (r->started)
		pthread_mutex_lock(&r->mu);
	t = r->stall_ns;
	if (r->started)
		pthread_mutex_unlock(&r->mu);
	return t;
}
