"""An answer's target, resolved against the inbox when the answer is about to go (issue 20).

The queue names the item (``reply_to: 42`` or its URL); the store knows what the network
needs to answer it. Resolved at send time, not at sync: an item heard after the post was
written is found, and the content's hash (what the editor wrote) does not change with it.
The item is linked to the delivery before anything is sent, so once the delivery is
published the listener marks the item handled, whatever happens in between.
"""

from __future__ import annotations

from dataclasses import replace

from publisher.content import PostContent, ReplyTarget
from publisher.store import Store


async def answering(store: Store, content: PostContent) -> PostContent:
    """``content`` with its ``reply_to`` resolved (left unresolved when the item is not in
    the inbox: the render then says so, and nothing is sent)."""
    target = content.reply_to
    if target is None:
        return content
    item = await store.inbox_item(target.ref)
    if item is None:
        return replace(content, reply_to=ReplyTarget(target.ref))
    # Linked even if the render then refuses it (another network): only a published
    # delivery marks the item handled.
    await store.plan_answer(item.id, content.post_id, content.account)
    return replace(content, reply_to=item.target(target.ref))
