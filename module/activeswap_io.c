// SPDX-License-Identifier: GPL-2.0
/*
 * activeswap requests: who submitted them (credentials, cgroups, I/O priority), their
 * dispatch to the store's filesystem within the queue depth, their completion (possibly
 * in interrupt context), the records read(2) returns, poll, and the ctx's last reference.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blk-cgroup.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fsnotify.h>
#include <linux/ioprio.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/memcontrol.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "activeswap_internal.h"
#include "activeswap_trace.h"

struct as_subm *as_subm_get_current(void)
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
void as_subm_put(struct as_subm *s)
{
	if (!s || !refcount_dec_and_test(&s->refs))
		return;
	put_cred(s->cred);
	if (s->blkcg_css)
		css_put(s->blkcg_css);
	mem_cgroup_put(s->memcg);
	kfree(s);
}

void as_req_free(struct as_req *req)
{
	as_subm_put(req->subm);
	kfree(req->bvec);	/* NULL unless the read never completed */
	kfree(req);
}

void as_ctx_free_work(struct work_struct *work)
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

void as_ctx_put(struct as_ctx *ctx)
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
void as_dispatch(struct as_ctx *ctx)
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

void as_dispatch_work(struct work_struct *work)
{
	struct as_ctx *ctx = container_of(work, struct as_ctx, dispatch_work);

	as_dispatch(ctx);
	as_ctx_put(ctx);
}

/* ---------------------------------------------------------------- read / poll */

ssize_t as_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
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

__poll_t as_poll(struct file *file, struct poll_table_struct *wait)
{
	struct as_ctx *ctx = file->private_data;

	poll_wait(file, &ctx->wait, wait);
	return READ_ONCE(ctx->ndone) ? EPOLLIN | EPOLLRDNORM : 0;
}
