// SPDX-License-Identifier: GPL-2.0
/*
 * activeswap regions: the pinned pages a file's reads land in, charged to the creating
 * user's RLIMIT_MEMLOCK, and their shared mapping (mmap, page faults).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>

#include "activeswap_internal.h"

/* Free a region (or a partly allocated one): its pages, its locked_vm charge. */
void as_region_destroy(struct as_region *r)
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

struct as_region *as_region_alloc(u64 length, int node, u32 flags)
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

int as_mmap(struct file *file, struct vm_area_struct *vma)
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
