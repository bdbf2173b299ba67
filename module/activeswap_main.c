// SPDX-License-Identifier: GPL-2.0
/*
 * activeswap: /dev/activeswap, pinned weight regions filled from a flash store with
 * asynchronous direct reads.  ABI: uapi/linux/activeswap.h, Documentation/kernel-module.md.
 * This file: the module parameters, open/release, the device and module init/exit; the
 * regions are activeswap_region.c's, the requests activeswap_io.c's, the ioctls
 * activeswap_ioctl.c's (activeswap_internal.h between them).
 *
 * Object lifetime.  Each open file description owns one struct as_ctx, which owns the
 * region, the store file and every request.  The ctx is reference counted: one reference
 * belongs to the file (dropped in release(), which runs only once every fd and every
 * mapping is gone, since a mapping holds the file), one to every read handed to the
 * filesystem and one to a queued dispatch work item.  The last reference queues the ctx
 * for freeing on the module's workqueue, which frees the pages, gives the locked memory
 * back to the user it was charged to, drops the store and the module reference taken at
 * open().  module_exit() destroys the workqueue, so it waits for that work.
 *
 * Locking.  ctx->lock (irq-safe: completions may run in interrupt context) protects the
 * request lists, the counters and ctx->closed.  ctx->setup_lock serialises region
 * creation and store attachment; both are set once and never cleared while the file
 * lives, and are published with release/acquire ordering.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "activeswap_internal.h"

#define CREATE_TRACE_POINTS
#include "activeswap_trace.h"

unsigned int as_queue_depth = 32;
module_param_named(queue_depth, as_queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth, "Default reads in flight per open file (1..1024, default 32)");

unsigned int as_max_queued = 4096;
module_param_named(max_queued, as_max_queued, uint, 0444);
MODULE_PARM_DESC(max_queued,
		 "Requests an open file may hold queued, in flight or unread (default 4096)");

unsigned int as_max_extents = 1024;
module_param_named(max_extents, as_max_extents, uint, 0444);
MODULE_PARM_DESC(max_extents, "Extents per SUBMIT call (1..65536, default 1024)");

unsigned int as_max_extent_kb = 4096;
module_param_named(max_extent_kb, as_max_extent_kb, uint, 0444);
MODULE_PARM_DESC(max_extent_kb, "Largest extent in KiB (4..65536, default 4096)");

unsigned int as_max_region_mb = 65536;
module_param_named(max_region_mb, as_max_region_mb, uint, 0444);
MODULE_PARM_DESC(max_region_mb, "Largest region in MiB (default 65536)");

struct workqueue_struct *as_wq;
static atomic64_t as_next_ctx_id = ATOMIC64_INIT(0);

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
	ctx->qd = as_queue_depth;
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

const struct file_operations as_fops = {
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

	if (!as_queue_depth || as_queue_depth > AS_MAX_QUEUE_DEPTH ||
	    !as_max_extents || as_max_extents > 65536 ||
	    as_max_extent_kb < 4 || as_max_extent_kb > 65536 || !as_max_queued ||
	    !as_max_region_mb) {
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
