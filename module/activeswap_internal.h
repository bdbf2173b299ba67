/* SPDX-License-Identifier: GPL-2.0 */
/*
 * activeswap's internals, shared by the module's files: activeswap_main.c (module
 * parameters, open/release, init/exit), activeswap_region.c (regions and their mapping),
 * activeswap_io.c (request lifetime, dispatch, completion, read/poll) and
 * activeswap_ioctl.c (the ioctl commands).  Object lifetime and locking:
 * activeswap_main.c's header comment.
 */
#ifndef _ACTIVESWAP_INTERNAL_H
#define _ACTIVESWAP_INTERNAL_H

#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/activeswap.h>

#define AS_HUGE_ORDER		(PMD_SHIFT - PAGE_SHIFT)
#define AS_MAX_QUEUE_DEPTH	1024U
#define AS_MAX_ARG_SIZE		PAGE_SIZE
#define AS_READ_BATCH		64U

/* module parameters (activeswap_main.c), checked at load */
extern unsigned int as_queue_depth;
extern unsigned int as_max_queued;
extern unsigned int as_max_extents;
extern unsigned int as_max_extent_kb;
extern unsigned int as_max_region_mb;

extern struct workqueue_struct *as_wq;
extern const struct file_operations as_fops;

struct as_region {
	struct page **pages;		/* one entry per PAGE_SIZE page */
	unsigned long npages;
	unsigned int order;		/* allocation order of each chunk */
	u64 length;
	struct user_struct *user;	/* locked_vm charged here (get_uid); NULL: exempt */
};

struct as_ctx;

/*
 * Who submitted: captured once per SUBMIT call and shared by its requests, so that a read
 * issued later from the module's workqueue runs as the caller would have run it: with its
 * credentials (the filesystem's permission and LSM checks), charged to its I/O cgroup
 * (io.max, io.weight, io.stat) and memory cgroup, at its I/O priority, as
 * drivers/block/loop.c does for its workers.
 */
struct as_subm {
	refcount_t refs;
	const struct cred *cred;
	struct cgroup_subsys_state *blkcg_css;	/* NULL without CONFIG_BLK_CGROUP */
	struct mem_cgroup *memcg;		/* may be NULL */
	u16 ioprio;
};

struct as_req {
	struct list_head node;
	struct kiocb iocb;
	struct as_ctx *ctx;
	struct as_subm *subm;
	struct bio_vec *bvec;
	unsigned int nr_bvec;
	struct activeswap_extent ext;
	u64 start_ns;
	u64 latency_ns;
	s64 result;
	refcount_t refs;		/* the issuer's and the completion's, see as_issue */
	u16 flags;
};

struct as_ctx {
	struct kref ref;
	u64 id;
	spinlock_t lock;		/* lists, counters, closed; irq-safe */
	struct mutex setup_lock;	/* region creation, store attachment */
	wait_queue_head_t wait;
	struct list_head pending[ACTIVESWAP_NR_PRIO];
	struct list_head done;
	unsigned int npending;
	unsigned int ninflight;
	unsigned int ndone;
	bool closed;
	/* set once under setup_lock */
	struct as_region *region;
	struct file *store;
	unsigned int store_align;
	unsigned int qd;
	bool store_direct;
	/* statistics, under lock */
	u64 st_bytes, st_submitted, st_completed, st_errors, st_cancelled;
	struct work_struct dispatch_work;
	struct work_struct free_work;
};

/* activeswap_region.c */
struct as_region *as_region_alloc(u64 length, int node, u32 flags);
void as_region_destroy(struct as_region *r);
int as_mmap(struct file *file, struct vm_area_struct *vma);

/* activeswap_io.c */
struct as_subm *as_subm_get_current(void);
void as_subm_put(struct as_subm *s);
void as_req_free(struct as_req *req);
void as_ctx_free_work(struct work_struct *work);
void as_ctx_put(struct as_ctx *ctx);
void as_dispatch(struct as_ctx *ctx);
void as_dispatch_work(struct work_struct *work);
ssize_t as_read(struct file *file, char __user *buf, size_t count, loff_t *ppos);
__poll_t as_poll(struct file *file, struct poll_table_struct *wait);

/* activeswap_ioctl.c */
long as_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif
