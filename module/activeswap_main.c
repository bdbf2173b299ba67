// SPDX-License-Identifier: GPL-2.0
/*
 * activeswap: /dev/activeswap, pinned weight regions filled from a flash store with
 * asynchronous direct reads.  ABI: uapi/linux/activeswap.h, Documentation/kernel-module.md.
 *
 * Object lifetime.  Each open file description owns one struct as_ctx, which owns the
 * region, the store file and every request.  The ctx is reference counted: one reference
 * belongs to the file (dropped in release(), which runs only once every fd and every
 * mapping is gone, since a mapping holds the file), one to every read handed to the
 * filesystem and one to a queued dispatch work item.  The last reference queues the ctx
 * for freeing on the module's workqueue, which frees the pages, gives the locked memory
 * back to the user it was charged to, drops the store and the module reference taken at open().  module_exit()
 * destroys the workqueue, so it waits for that work.
 *
 * Locking.  ctx->lock (irq-safe: completions may run in interrupt context) protects the
 * request lists, the counters and ctx->closed.  ctx->setup_lock serialises region
 * creation and store attachment; both are set once and never cleared while the file
 * lives, and are published with release/acquire ordering.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/bvec.h>
#include <linux/capability.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fsnotify.h>
#include <linux/ioprio.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/magic.h>
#include <linux/memcontrol.h>
#include <linux/refcount.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nodemask.h>
#include <linux/overflow.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/activeswap.h>

#define CREATE_TRACE_POINTS
#include "activeswap_trace.h"

#define AS_HUGE_ORDER		(PMD_SHIFT - PAGE_SHIFT)
#define AS_MAX_QUEUE_DEPTH	1024U
#define AS_MAX_ARG_SIZE		PAGE_SIZE
#define AS_READ_BATCH		64U

static unsigned int queue_depth = 32;
module_param(queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth, "Default reads in flight per open file (1..1024, default 32)");

static unsigned int max_queued = 4096;
module_param(max_queued, uint, 0444);
MODULE_PARM_DESC(max_queued,
		 "Requests an open file may hold queued, in flight or unread (default 4096)");

static unsigned int max_extents = 1024;
module_param(max_extents, uint, 0444);
MODULE_PARM_DESC(max_extents, "Extents per SUBMIT call (1..65536, default 1024)");

static unsigned int max_extent_kb = 4096;
module_param(max_extent_kb, uint, 0444);
MODULE_PARM_DESC(max_extent_kb, "Largest extent in KiB (4..65536, default 4096)");

static unsigned int max_region_mb = 65536;
module_param(max_region_mb, uint, 0444);
MODULE_PARM_DESC(max_region_mb, "Largest region in MiB (default 65536)");

static struct workqueue_struct *as_wq;
static atomic64_t as_next_ctx_id = ATOMIC64_INIT(0);

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

/* ---------------------------------------------------------------- regions */

/* Free a region (or a partly allocated one): its pages, its locked_vm charge. */
static void as_region_destroy(struct as_region *r)
{
	unsigned long chunk = 1UL << r->order;
	unsigned long i;

	for (i = 0; i < r->npages; i += chunk) {
		if (!r->pages[i])
			break;
		/* put_page: a page someone still references (GUP) is freed by them later */
		put_page(r->pages[i]);
	}
	if (r->user) {
		atomic_long_sub(r->npages, &r->user->locked_vm);
		free_uid(r->user);
	}
	kvfree(r->pages);
	kfree(r);
}

/*
 * Charge @npages to the user's locked_vm against RLIMIT_MEMLOCK, as io_uring charges its
 * registered buffers: the region lives as long as the file, which fork, exec, exit and fd
 * passing do not end, so the charge cannot belong to the creating process's mm (whose
 * exit or exec would forget it).  CAP_IPC_LOCK is exempt, as for mlock.
 */
static int as_account_user(struct as_region *r)
{
	struct user_struct *user = current_user();
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	unsigned long cur, new;

	if (capable(CAP_IPC_LOCK))
		return 0;
	cur = atomic_long_read(&user->locked_vm);
	do {
		if (check_add_overflow(cur, r->npages, &new) || new > limit)
			return -ENOMEM;
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, new));
	r->user = get_uid(user);
	return 0;
}

static struct as_region *as_region_alloc(u64 length, int node, u32 flags)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN | __GFP_RETRY_MAYFAIL;
	struct as_region *r;
	unsigned long chunk, i, j;
	int ret;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->length = length;
	r->npages = length >> PAGE_SHIFT;
	r->order = (flags & ACTIVESWAP_REGION_HUGE) ? AS_HUGE_ORDER : 0;
	chunk = 1UL << r->order;
	if (node != NUMA_NO_NODE)
		gfp |= __GFP_THISNODE;
	if (r->order)
		gfp |= __GFP_COMP;

	r->pages = kvcalloc(r->npages, sizeof(*r->pages), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!r->pages) {
		kfree(r);
		return ERR_PTR(-ENOMEM);
	}

	/* RLIMIT_MEMLOCK (skipped for CAP_IPC_LOCK) before touching any memory */
	ret = as_account_user(r);
	if (ret)
		goto err;

	for (i = 0; i < r->npages; i += chunk) {
		struct page *page;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto err;
		}
		page = alloc_pages_node(node, gfp, r->order);
		if (!page) {
			ret = -ENOMEM;
			goto err;
		}
		for (j = 0; j < chunk; j++)
			r->pages[i + j] = nth_page(page, j);
		cond_resched();
	}
	return r;
err:
	as_region_destroy(r);
	return ERR_PTR(ret);
}

/* ---------------------------------------------------------------- argument copy */

/*
 * Copy an extensible ioctl argument: its first __u32 is the caller's struct size, which
 * must be at least @ver0 and at most AS_MAX_ARG_SIZE; unknown trailing bytes must be 0.
 */
static int as_copy_arg(void *karg, size_t ksize, size_t ver0, void __user *uarg, u32 *usize)
{
	u32 size;
	int ret;

	if (get_user(size, (u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0 || size > AS_MAX_ARG_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(karg, ksize, uarg, size);
	if (ret)
		return ret;
	*usize = size;
	return 0;
}

static int as_copy_result(void __user *uarg, const void *karg, size_t ksize, u32 usize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

static bool as_zero(const void *p, size_t n)
{
	return !memchr_inv(p, 0, n);
}

/* ---------------------------------------------------------------- ctx lifetime */

static struct as_subm *as_subm_get_current(void)
{
	struct as_subm *s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);

	if (!s)
		return NULL;
	refcount_set(&s->refs, 1);
	s->cred = get_current_cred();
#ifdef CONFIG_BLK_CGROUP
	s->blkcg_css = task_get_css(current, io_cgrp_id);
#endif
	if (current->mm)
		s->memcg = get_mem_cgroup_from_mm(current->mm);
	s->ioprio = get_current_ioprio();
	return s;
}

/* Process context: the last request of a SUBMIT call is freed (read, release, free work). */
static void as_subm_put(struct as_subm *s)
{
	if (!s || !refcount_dec_and_test(&s->refs))
		return;
	put_cred(s->cred);
	if (s->blkcg_css)
		css_put(s->blkcg_css);
	mem_cgroup_put(s->memcg);
	kfree(s);
}

static void as_req_free(struct as_req *req)
{
	as_subm_put(req->subm);
	kfree(req->bvec);	/* NULL unless the read never completed */
	kfree(req);
}

static void as_ctx_free_work(struct work_struct *work)
{
	struct as_ctx *ctx = container_of(work, struct as_ctx, free_work);
	struct as_req *req, *tmp;
	int p;

	for (p = 0; p < ACTIVESWAP_NR_PRIO; p++)
		list_for_each_entry_safe(req, tmp, &ctx->pending[p], node)
			as_req_free(req);
	list_for_each_entry_safe(req, tmp, &ctx->done, node) {
		as_req_free(req);
		cond_resched();
	}
	if (ctx->store)
		fput(ctx->store);
	if (ctx->region) {
		trace_activeswap_region_free(ctx->id, ctx->region->length);
		as_region_destroy(ctx->region);
	}
	mutex_destroy(&ctx->setup_lock);
	kfree(ctx);
	module_put(THIS_MODULE);
}

/* May run in interrupt context (the last read completing). */
static void as_ctx_release(struct kref *ref)
{
	struct as_ctx *ctx = container_of(ref, struct as_ctx, ref);

	queue_work(as_wq, &ctx->free_work);
}

static void as_ctx_put(struct as_ctx *ctx)
{
	kref_put(&ctx->ref, as_ctx_release);
}

/* ---------------------------------------------------------------- I/O */

/*
 * A finished read goes to the done list, where the reader may free it.  Runs when both
 * the completion and the issuer have let go of the request (see as_issue), possibly in
 * interrupt context.
 */
static void as_publish(struct as_req *req)
{
	struct as_ctx *ctx = req->ctx;
	unsigned long flags;
	bool more;

	/* only reads in flight hold a bio_vec array (kmalloc: may be freed in irq context) */
	kfree(req->bvec);
	req->bvec = NULL;
	spin_lock_irqsave(&ctx->lock, flags);
	ctx->ninflight--;
	ctx->st_completed++;
	if (req->result < 0)
		ctx->st_errors++;
	else
		ctx->st_bytes += req->result;
	/* from here on the reader may free req */
	list_add_tail(&req->node, &ctx->done);
	ctx->ndone++;
	more = !ctx->closed && ctx->npending;
	spin_unlock_irqrestore(&ctx->lock, flags);

	wake_up_interruptible_poll(&ctx->wait, EPOLLIN | EPOLLRDNORM);
	if (more) {
		kref_get(&ctx->ref);
		if (!queue_work(as_wq, &ctx->dispatch_work))
			as_ctx_put(ctx);
	}
	/* the reference of this read: may be the last one */
	as_ctx_put(ctx);
}

static void as_req_put(struct as_req *req)
{
	if (refcount_dec_and_test(&req->refs))
		as_publish(req);
}

/*
 * Completion of one read, from the filesystem's ki_complete (possibly in interrupt
 * context) or from as_issue() when the read finished synchronously.
 */
static void as_complete(struct as_req *req, long ret)
{
	req->result = ret;
	req->latency_ns = ktime_get_ns() - req->start_ns;
	trace_activeswap_fetch_complete(req->ctx->id, req->ext.tag, ret, req->latency_ns);
	as_req_put(req);
}

static void as_ki_complete(struct kiocb *iocb, long ret)
{
	as_complete(container_of(iocb, struct as_req, iocb), ret);
}

/*
 * Hand one read to the filesystem.  An asynchronous read may complete (ki_complete)
 * before ->read_iter returns, and the filesystem may still use the kiocb after queueing
 * it (ext4's direct read path calls file_accessed(iocb->ki_filp) after iomap_dio_rw()
 * returned -EIOCBQUEUED).  So the request holds two references, the completion's and
 * this function's, and goes to the done list, where the reader frees it, only when both
 * are dropped.
 */
/*
 * The bio_vec array of one read, built when it is dispatched rather than when it is
 * queued: a queued request holds no more than its struct, so max_queued requests of the
 * largest extent cost kilobytes, not max_queued x 16 KiB (issue #18).  Charged to the
 * submitter's memory cgroup (the caller sets it active).
 */
static int as_build_bvec(struct as_ctx *ctx, struct as_req *req)
{
	/* pairs with the release store in create_region (a request implies a region) */
	struct as_region *r = smp_load_acquire(&ctx->region);
	u64 rend = req->ext.region_offset + req->ext.length;
	unsigned long first = req->ext.region_offset >> PAGE_SHIFT;
	unsigned long last = (rend - 1) >> PAGE_SHIFT;
	unsigned long i;

	req->nr_bvec = last - first + 1;
	req->bvec = kmalloc_array(req->nr_bvec, sizeof(*req->bvec),
				  GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!req->bvec)
		return -ENOMEM;
	for (i = 0; i < req->nr_bvec; i++) {
		u64 pstart = (u64)(first + i) << PAGE_SHIFT;
		u64 s = max(pstart, req->ext.region_offset);
		u64 t = min(pstart + PAGE_SIZE, rend);

		req->bvec[i].bv_page = r->pages[first + i];
		req->bvec[i].bv_offset = s - pstart;
		req->bvec[i].bv_len = t - s;
	}
	return 0;
}

static void as_issue(struct as_ctx *ctx, struct as_req *req)
{
	struct as_subm *s = req->subm;
	const struct cred *old_cred;
	struct mem_cgroup *old_memcg;
	struct iov_iter iter;
	ssize_t ret;

	init_sync_kiocb(&req->iocb, ctx->store);
	req->iocb.ki_pos = req->ext.file_offset;
	req->iocb.ki_complete = as_ki_complete;
	req->iocb.ki_flags = ctx->store_direct ? IOCB_DIRECT : 0;
	req->iocb.ki_ioprio = s->ioprio;
	refcount_set(&req->refs, 2);

	/* as the submitter (a no-op when the submitter issues it itself) */
	old_cred = override_creds(s->cred);
	old_memcg = set_active_memcg(s->memcg);
	kthread_associate_blkcg(s->blkcg_css);	/* only acts in a kthread (our workers) */
	ret = as_build_bvec(ctx, req);
	if (!ret) {
		iov_iter_bvec(&iter, ITER_DEST, req->bvec, req->nr_bvec, req->ext.length);
		ret = call_read_iter(ctx->store, &req->iocb, &iter);
	}
	kthread_associate_blkcg(NULL);
	set_active_memcg(old_memcg);
	revert_creds(old_cred);
	/* an access event per read issued, as read(2) raises one (inotify, fanotify) */
	if (ret >= 0 || ret == -EIOCBQUEUED)
		fsnotify_access(ctx->store);
	if (ret != -EIOCBQUEUED)
		as_complete(req, ret);	/* no ki_complete will come */
	as_req_put(req);		/* the filesystem is done with the kiocb */
}

static struct as_req *as_pop_pending(struct as_ctx *ctx)
{
	struct as_req *req;
	int p;

	for (p = 0; p < ACTIVESWAP_NR_PRIO; p++) {
		req = list_first_entry_or_null(&ctx->pending[p], struct as_req, node);
		if (req) {
			list_del(&req->node);
			return req;
		}
	}
	return NULL;
}

/* Hand queued extents to the filesystem while the queue depth allows.  Process context. */
static void as_dispatch(struct as_ctx *ctx)
{
	for (;;) {
		struct as_req *req = NULL;

		spin_lock_irq(&ctx->lock);
		if (!ctx->closed && ctx->ninflight < ctx->qd) {
			req = as_pop_pending(ctx);
			if (req) {
				ctx->npending--;
				ctx->ninflight++;
				kref_get(&ctx->ref);
			}
		}
		spin_unlock_irq(&ctx->lock);
		if (!req)
			return;
		as_issue(ctx, req);
		cond_resched();
	}
}

static void as_dispatch_work(struct work_struct *work)
{
	struct as_ctx *ctx = container_of(work, struct as_ctx, dispatch_work);

	as_dispatch(ctx);
	as_ctx_put(ctx);
}

/* ---------------------------------------------------------------- ioctls */

static long as_ioc_version(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_version v;
	u32 usize;
	int ret;

	ret = as_copy_arg(&v, sizeof(v), ACTIVESWAP_VERSION_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	/* every field but size is output-only; reserved ones must still be zero */
	if (v.reserved0 || !as_zero(v.reserved, sizeof(v.reserved)))
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	v.abi_version = ACTIVESWAP_ABI_VERSION;
	v.features = ACTIVESWAP_FEAT_HUGE | ACTIVESWAP_FEAT_NUMA | ACTIVESWAP_FEAT_DIRECT |
		     ACTIVESWAP_FEAT_CANCEL | ACTIVESWAP_FEAT_BLKDEV | ACTIVESWAP_FEAT_TRACE;
	v.max_extents = max_extents;
	v.max_extent_len = max_extent_kb * 1024U;
	v.queue_depth = queue_depth;
	v.max_queued = max_queued;
	v.max_region_mb = max_region_mb;
	return as_copy_result(uarg, &v, sizeof(v), usize);
}

static long as_ioc_create_region(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_region_create a;
	struct as_region *r;
	int node;
	u32 usize;
	int ret;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_REGION_CREATE_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (a.flags & ~ACTIVESWAP_REGION_FLAGS)
		return -EINVAL;
	if (a.reserved0 || !as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (!a.length || !PAGE_ALIGNED(a.length))
		return -EINVAL;
	if ((a.flags & ACTIVESWAP_REGION_HUGE) && !IS_ALIGNED(a.length, PMD_SIZE))
		return -EINVAL;
	if (a.length > (u64)max_region_mb << 20)
		return -EINVAL;
	if ((a.length >> PAGE_SHIFT) > totalram_pages())
		return -ENOMEM;
	if (!current->mm)
		return -EINVAL;
	if (a.node == ACTIVESWAP_NODE_ANY) {
		node = NUMA_NO_NODE;
	} else {
		if (a.node < 0 || a.node >= MAX_NUMNODES || !node_online(a.node))
			return -EINVAL;
		node = a.node;
	}

	mutex_lock(&ctx->setup_lock);
	if (ctx->region) {
		ret = -EBUSY;
		goto out;
	}
	r = as_region_alloc(a.length, node, a.flags);
	if (IS_ERR(r)) {
		ret = PTR_ERR(r);
		trace_activeswap_region_create(ctx->id, a.length, a.node, a.flags, ret);
		goto out;
	}
	a.mmap_offset = 0;
	ret = as_copy_result(uarg, &a, sizeof(a), usize);
	if (ret) {
		as_region_destroy(r);
		goto out;
	}
	trace_activeswap_region_create(ctx->id, a.length, a.node, a.flags, 0);
	/* publish: pairs with smp_load_acquire in submit, stats, mmap and fault */
	smp_store_release(&ctx->region, r);
out:
	mutex_unlock(&ctx->setup_lock);
	return ret;
}

static const struct file_operations as_fops;

static long as_ioc_attach_store(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_store_attach a;
	struct inode *host;
	struct block_device *bdev;
	struct file *file;
	umode_t mode;
	bool direct;
	u32 usize;
	int ret;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_STORE_ATTACH_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (a.flags & ~ACTIVESWAP_STORE_FLAGS)
		return -EINVAL;
	if (!as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (a.queue_depth > AS_MAX_QUEUE_DEPTH)
		return -EINVAL;

	file = fget(a.fd);
	if (!file)
		return -EBADF;
	ret = -EBADF;
	if (!(file->f_mode & FMODE_READ))
		goto out_put;
	ret = -EINVAL;
	mode = file_inode(file)->i_mode;
	if (!S_ISREG(mode) && !S_ISBLK(mode))
		goto out_put;
	if (file->f_op == &as_fops || !file->f_op->read_iter || !file->f_mapping)
		goto out_put;
	host = file->f_mapping->host;
	if (S_ISBLK(mode))
		bdev = I_BDEV(host);
	else
		bdev = host->i_sb->s_bdev;
	direct = file->f_mapping->a_ops && file->f_mapping->a_ops->direct_IO;
	ret = -EOPNOTSUPP;
	if (!direct && !(a.flags & ACTIVESWAP_STORE_ALLOW_BUFFERED))
		goto out_put;
	/*
	 * A regular file must live on a block-backed filesystem, or (buffered) in memory:
	 * tmpfs, ramfs.  Never a pseudo file (procfs, sysfs, debugfs, ...), whose read_iter
	 * runs driver code with our buffers and has no business being a weight store.
	 */
	ret = -EINVAL;
	if (S_ISREG(mode) && !bdev && host->i_sb->s_magic != TMPFS_MAGIC &&
	    host->i_sb->s_magic != RAMFS_MAGIC)
		goto out_put;

	mutex_lock(&ctx->setup_lock);
	if (ctx->store) {
		ret = -EBUSY;
		goto out_unlock;
	}
	a.store_size = i_size_read(host);
	a.align = bdev ? max_t(unsigned int, bdev_logical_block_size(bdev), SECTOR_SIZE)
		       : PAGE_SIZE;
	if (!direct)
		a.align = SECTOR_SIZE;
	a.out_flags = (direct ? ACTIVESWAP_STORE_DIRECT : 0) |
		      (S_ISBLK(mode) ? ACTIVESWAP_STORE_IS_BLKDEV : 0);
	ret = as_copy_result(uarg, &a, sizeof(a), usize);
	if (ret)
		goto out_unlock;
	ctx->store_align = a.align;
	ctx->store_direct = direct;
	ctx->qd = a.queue_depth ? a.queue_depth : queue_depth;
	/* publish store_align, store_direct, qd with it: pairs with submit's acquire */
	smp_store_release(&ctx->store, file);
	file = NULL;	/* the ctx keeps the reference */
out_unlock:
	mutex_unlock(&ctx->setup_lock);
out_put:
	if (file)
		fput(file);
	return ret;
}

/* Validate one extent against the region and the store; build its request. */
static int as_prepare(struct as_ctx *ctx, struct as_region *r, const struct activeswap_extent *e,
		      struct as_req **out)
{
	u64 fend, rend, store_size;
	unsigned int align = ctx->store_align;
	struct as_req *req;
	loff_t pos;
	int ret;

	if (e->reserved || e->priority >= ACTIVESWAP_NR_PRIO)
		return -EINVAL;
	if (!e->length || e->length > max_extent_kb * 1024U)
		return -EINVAL;
	if (!IS_ALIGNED(e->file_offset, align) || !IS_ALIGNED(e->region_offset, align) ||
	    !IS_ALIGNED(e->length, align))
		return -EINVAL;
	if (check_add_overflow(e->file_offset, (u64)e->length, &fend) ||
	    check_add_overflow(e->region_offset, (u64)e->length, &rend))
		return -EINVAL;
	store_size = i_size_read(ctx->store->f_mapping->host);
	if (fend > store_size || rend > r->length)
		return -EINVAL;
	/* what read(2) checks: position limits, LSM file permission, mandatory locks */
	pos = e->file_offset;
	ret = rw_verify_area(READ, ctx->store, &pos, e->length);
	if (ret)
		return ret;

	/* the bio_vec array comes at dispatch (as_build_bvec) */
	req = kzalloc(sizeof(*req), GFP_KERNEL_ACCOUNT);
	if (!req)
		return -ENOMEM;
	req->ctx = ctx;
	req->ext = *e;
	*out = req;
	return 0;
}

static long as_ioc_submit(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_submit a;
	struct activeswap_extent e;
	struct as_subm *subm;
	struct as_region *r;
	struct as_req *req, *tmp;
	LIST_HEAD(batch);
	u8 __user *uext;
	u32 usize, i;
	size_t total;
	u64 now;
	int ret;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_SUBMIT_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	/* submitted and error_index are output-only and ignored on input */
	a.submitted = 0;
	a.error_index = 0;
	if (a.flags || !as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	if (a.extent_size < ACTIVESWAP_EXTENT_SIZE_VER0 || a.extent_size > AS_MAX_ARG_SIZE)
		return -EINVAL;
	if (a.count > max_extents)
		return -EINVAL;
	if (check_mul_overflow((size_t)a.count, (size_t)a.extent_size, &total))
		return -EINVAL;
	/* pairs with the release store in create_region */
	r = smp_load_acquire(&ctx->region);
	if (!r)
		return -EINVAL;
	/* pairs with the release store in attach_store */
	if (!smp_load_acquire(&ctx->store))
		return -EINVAL;
	if (!a.count)
		return as_copy_result(uarg, &a, sizeof(a), usize);
	uext = u64_to_user_ptr(a.extents);
	if (!access_ok(uext, total))
		return -EFAULT;
	subm = as_subm_get_current();
	if (!subm)
		return -ENOMEM;

	for (i = 0; i < a.count; i++) {
		ret = copy_struct_from_user(&e, sizeof(e), uext + (size_t)i * a.extent_size,
					    a.extent_size);
		if (!ret)
			ret = as_prepare(ctx, r, &e, &req);
		if (!ret) {
			refcount_inc(&subm->refs);
			req->subm = subm;
		}
		if (ret) {
			a.error_index = i;
			if (ret != -EFAULT && as_copy_result(uarg, &a, sizeof(a), usize))
				ret = -EFAULT;
			goto err;
		}
		list_add_tail(&req->node, &batch);
		if (!((i + 1) % AS_READ_BATCH))
			cond_resched();
	}

	now = ktime_get_ns();
	spin_lock_irq(&ctx->lock);
	if ((u64)ctx->npending + ctx->ninflight + ctx->ndone + a.count > max_queued) {
		spin_unlock_irq(&ctx->lock);
		ret = -EAGAIN;
		goto err;
	}
	list_for_each_entry_safe(req, tmp, &batch, node) {
		req->start_ns = now;
		trace_activeswap_fetch_submit(ctx->id, req->ext.tag, req->ext.file_offset,
					      req->ext.region_offset, req->ext.length,
					      req->ext.priority);
		list_move_tail(&req->node, &ctx->pending[req->ext.priority]);
	}
	ctx->npending += a.count;
	ctx->st_submitted += a.count;
	spin_unlock_irq(&ctx->lock);

	a.submitted = a.count;
	as_subm_put(subm);	/* the requests hold it now */
	ret = as_copy_result(uarg, &a, sizeof(a), usize);
	/* the extents are queued either way: a faulting result pointer does not undo them */
	as_dispatch(ctx);
	return ret;
err:
	list_for_each_entry_safe(req, tmp, &batch, node)
		as_req_free(req);
	as_subm_put(subm);
	return ret;
}

static long as_ioc_cancel(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_cancel a;
	struct as_req *req, *tmp;
	u64 now = ktime_get_ns();
	u32 usize, n = 0;
	int ret, p;

	ret = as_copy_arg(&a, sizeof(a), ACTIVESWAP_CANCEL_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	a.cancelled = 0;	/* output-only */
	if (!as_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;
	switch (a.flags) {
	case ACTIVESWAP_CANCEL_TAG:
		if (a.priority)
			return -EINVAL;
		break;
	case ACTIVESWAP_CANCEL_PRIORITY:
		if (a.tag || a.priority >= ACTIVESWAP_NR_PRIO)
			return -EINVAL;
		break;
	case ACTIVESWAP_CANCEL_ALL:
		if (a.tag || a.priority)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}

	spin_lock_irq(&ctx->lock);
	for (p = 0; p < ACTIVESWAP_NR_PRIO; p++) {
		if (a.flags == ACTIVESWAP_CANCEL_PRIORITY && p != a.priority)
			continue;
		list_for_each_entry_safe(req, tmp, &ctx->pending[p], node) {
			if (a.flags == ACTIVESWAP_CANCEL_TAG && req->ext.tag != a.tag)
				continue;
			trace_activeswap_fetch_cancel(ctx->id, req->ext.tag, req->ext.priority);
			req->result = -ECANCELED;
			req->flags = ACTIVESWAP_COMPLETION_CANCELLED;
			req->latency_ns = now - req->start_ns;
			list_move_tail(&req->node, &ctx->done);
			n++;
		}
	}
	ctx->npending -= n;
	ctx->ndone += n;
	ctx->st_cancelled += n;
	spin_unlock_irq(&ctx->lock);
	if (n)
		wake_up_interruptible_poll(&ctx->wait, EPOLLIN | EPOLLRDNORM);

	a.cancelled = n;
	return as_copy_result(uarg, &a, sizeof(a), usize);
}

static long as_ioc_stats(struct as_ctx *ctx, void __user *uarg)
{
	struct activeswap_stats s;
	struct as_region *r;
	u32 usize;
	int ret;

	ret = as_copy_arg(&s, sizeof(s), ACTIVESWAP_STATS_SIZE_VER0, uarg, &usize);
	if (ret)
		return ret;
	if (s.reserved0 || !as_zero(s.reserved, sizeof(s.reserved)))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	r = smp_load_acquire(&ctx->region);	/* pairs with create_region */
	s.region_bytes = r ? r->length : 0;
	spin_lock_irq(&ctx->lock);
	s.bytes_read = ctx->st_bytes;
	s.submitted = ctx->st_submitted;
	s.completed = ctx->st_completed;
	s.errors = ctx->st_errors;
	s.cancelled = ctx->st_cancelled;
	s.in_flight = ctx->ninflight;
	s.queued = ctx->npending;
	s.unreaped = ctx->ndone;
	spin_unlock_irq(&ctx->lock);
	return as_copy_result(uarg, &s, sizeof(s), usize);
}

/* Commands are matched without their size bits: the struct's own size field rules. */
#define AS_CMD(cmd)	((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

static long as_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct as_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* what changes the context needs the device open for writing; VERSION, STATS do not */
	switch (AS_CMD(cmd)) {
	case AS_CMD(ACTIVESWAP_IOC_CREATE_REGION):
	case AS_CMD(ACTIVESWAP_IOC_ATTACH_STORE):
	case AS_CMD(ACTIVESWAP_IOC_SUBMIT):
	case AS_CMD(ACTIVESWAP_IOC_CANCEL):
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		break;
	}
	switch (AS_CMD(cmd)) {
	case AS_CMD(ACTIVESWAP_IOC_VERSION):
		return as_ioc_version(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_CREATE_REGION):
		return as_ioc_create_region(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_ATTACH_STORE):
		return as_ioc_attach_store(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_SUBMIT):
		return as_ioc_submit(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_CANCEL):
		return as_ioc_cancel(ctx, uarg);
	case AS_CMD(ACTIVESWAP_IOC_STATS):
		return as_ioc_stats(ctx, uarg);
	default:
		return -ENOTTY;
	}
}

/* ---------------------------------------------------------------- read / poll */

static ssize_t as_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct as_ctx *ctx = file->private_data;
	struct activeswap_completion rec;
	size_t want = count / sizeof(rec), got = 0;
	struct as_req *req;
	int ret;

	if (!want)
		return -EINVAL;
	while (got < want) {
		spin_lock_irq(&ctx->lock);
		req = list_first_entry_or_null(&ctx->done, struct as_req, node);
		if (req) {
			list_del(&req->node);
			ctx->ndone--;
		}
		if (!req && !got && !ctx->npending && !ctx->ninflight) {
			spin_unlock_irq(&ctx->lock);
			return 0;	/* nothing will ever arrive */
		}
		spin_unlock_irq(&ctx->lock);

		if (!req) {
			if (got)
				break;
			if (file->f_flags & O_NONBLOCK)
				return -EAGAIN;
			ret = wait_event_interruptible(ctx->wait, READ_ONCE(ctx->ndone) ||
						       (!READ_ONCE(ctx->npending) &&
							!READ_ONCE(ctx->ninflight)));
			if (ret)
				return ret;
			continue;
		}

		memset(&rec, 0, sizeof(rec));
		rec.tag = req->ext.tag;
		rec.result = req->result;
		rec.latency_ns = req->latency_ns;
		rec.priority = req->ext.priority;
		rec.flags = req->flags;
		if (copy_to_user(buf + got * sizeof(rec), &rec, sizeof(rec))) {
			/* keep the record for the next read */
			spin_lock_irq(&ctx->lock);
			list_add(&req->node, &ctx->done);
			ctx->ndone++;
			spin_unlock_irq(&ctx->lock);
			return got ? got * sizeof(rec) : -EFAULT;
		}
		as_req_free(req);
		got++;
		if (!(got % AS_READ_BATCH))
			cond_resched();
	}
	return got * sizeof(rec);
}

static __poll_t as_poll(struct file *file, struct poll_table_struct *wait)
{
	struct as_ctx *ctx = file->private_data;

	poll_wait(file, &ctx->wait, wait);
	return READ_ONCE(ctx->ndone) ? EPOLLIN | EPOLLRDNORM : 0;
}

/* ---------------------------------------------------------------- mmap */

static vm_fault_t as_vm_fault(struct vm_fault *vmf)
{
	struct as_ctx *ctx = vmf->vma->vm_file->private_data;
	/* pairs with create_region; never NULL once mmap() succeeded */
	struct as_region *r = smp_load_acquire(&ctx->region);
	struct page *page;

	if (!r || vmf->pgoff >= r->npages)
		return VM_FAULT_SIGBUS;
	page = r->pages[vmf->pgoff];
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct as_vm_ops = {
	.fault = as_vm_fault,
};

static int as_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct as_ctx *ctx = file->private_data;
	/* pairs with the release store in create_region */
	struct as_region *r = smp_load_acquire(&ctx->region);
	unsigned long npages = vma_pages(vma);

	if (!r)
		return -ENODEV;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff >= r->npages || npages > r->npages - vma->vm_pgoff)
		return -EINVAL;
	vma->vm_flags |= VM_DONTEXPAND;
	vma->vm_ops = &as_vm_ops;
	return 0;
}

/* ---------------------------------------------------------------- open / release */

static int as_open(struct inode *inode, struct file *file)
{
	struct as_ctx *ctx;
	int p;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	kref_init(&ctx->ref);
	ctx->id = atomic64_inc_return(&as_next_ctx_id);
	spin_lock_init(&ctx->lock);
	mutex_init(&ctx->setup_lock);
	init_waitqueue_head(&ctx->wait);
	for (p = 0; p < ACTIVESWAP_NR_PRIO; p++)
		INIT_LIST_HEAD(&ctx->pending[p]);
	INIT_LIST_HEAD(&ctx->done);
	ctx->qd = queue_depth;
	INIT_WORK(&ctx->dispatch_work, as_dispatch_work);
	INIT_WORK(&ctx->free_work, as_ctx_free_work);
	/* held by the ctx, which may outlive the file while reads are in flight */
	__module_get(THIS_MODULE);
	file->private_data = ctx;
	return stream_open(inode, file);
}

static int as_release(struct inode *inode, struct file *file)
{
	struct as_ctx *ctx = file->private_data;
	struct as_req *req, *tmp;
	LIST_HEAD(dropped);
	int p;

	spin_lock_irq(&ctx->lock);
	ctx->closed = true;
	for (p = 0; p < ACTIVESWAP_NR_PRIO; p++)
		list_splice_tail_init(&ctx->pending[p], &dropped);
	ctx->st_cancelled += ctx->npending;
	ctx->npending = 0;
	spin_unlock_irq(&ctx->lock);

	list_for_each_entry_safe(req, tmp, &dropped, node) {
		trace_activeswap_fetch_cancel(ctx->id, req->ext.tag, req->ext.priority);
		as_req_free(req);
		cond_resched();
	}
	/* reads in flight keep the ctx, its region and its store alive */
	as_ctx_put(ctx);
	return 0;
}

static const struct file_operations as_fops = {
	.owner		= THIS_MODULE,
	.open		= as_open,
	.release	= as_release,
	.unlocked_ioctl	= as_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.read		= as_read,
	.poll		= as_poll,
	.mmap		= as_mmap,
	.llseek		= no_llseek,
};

static struct miscdevice as_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "activeswap",
	.fops	= &as_fops,
	.mode	= 0600,
};

static int __init as_init(void)
{
	int ret;

	if (!queue_depth || queue_depth > AS_MAX_QUEUE_DEPTH ||
	    !max_extents || max_extents > 65536 ||
	    max_extent_kb < 4 || max_extent_kb > 65536 || !max_queued || !max_region_mb) {
		pr_err("invalid module parameter\n");
		return -EINVAL;
	}
	as_wq = alloc_workqueue("activeswap", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!as_wq)
		return -ENOMEM;
	ret = misc_register(&as_misc);
	if (ret) {
		destroy_workqueue(as_wq);
		return ret;
	}
	return 0;
}

static void __exit as_exit(void)
{
	misc_deregister(&as_misc);
	/* waits for the last ctx free work, which dropped our last module reference */
	destroy_workqueue(as_wq);
}

module_init(as_init);
module_exit(as_exit);

MODULE_DESCRIPTION("activeswap: pinned weight regions filled by async direct reads");
MODULE_LICENSE("GPL");
