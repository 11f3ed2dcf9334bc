"""The actor runtime: virtual actors, their mailboxes, and the host's group committer.

An actor is identified by (tenant, kind, key). The host activates it on its first message
(the actor loads its state), gives it one mailbox and one loop — so one actor never runs
two handlers at once — and passivates it after an idle timeout. The loop drains up to
``batch_max`` messages, lets the actor decide all of them in memory, hands the resulting
change set to the host's :class:`~actors.runtime.committer.GroupCommitter`, and replies
only after the commit. See ADR 0002.
"""
