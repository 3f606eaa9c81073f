"""The dispute: the protocol's vocabulary (protocol), the trees both players descend (trees), honest play
(player), the engine as a party (party), the agents that post, defend and watch (agent), and demo liars (lies).
docs/dispute.md is the spec."""
