// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Merkle} from "./Merkle.sol";
import {IOneStep} from "./interfaces/IOneStep.sol";
import {Operand} from "./OneStepIO.sol";

/// What a game keeps of its claim (copied from the registry when the game opens).
struct GameClaim {
    uint256 claimId;
    address defender;
    address challenger;
    uint256 bond;
    bytes32 traceRoot;
    uint64 stepCount;
    uint32 stepsPerToken;
}

/// The roots operand and output proofs are checked against (the claim's model, prompt, output and run).
struct Evidence {
    bytes32 templateRoot;
    bytes32 weightsRoot;
    uint32 context;
    uint32 promptLen;
    uint32 outputLen;
    bytes32 promptMerkleRoot;
    bytes32 outputMerkleRoot;
    bytes32 runRoot;
}

/// How a game ended, as the registry books it.
enum Outcome {
    DefenderWon,
    ChallengerWon,
    Closed
}

/// The registry side a game talks to (ClaimRegistry).
interface IGameRegistry {
    /// The roots the claim's operand and output proofs are checked against.
    function evidence(uint256 claimId) external view returns (Evidence memory);

    /// The number of games open on the claim (challenged, not yet settled).
    function openGamesOf(uint256 claimId) external view returns (uint256);

    /// Book a game's outcome (game only).
    function settle(uint256 gameId, uint256 claimId, address challenger, uint256 bond, Outcome outcome) external;
}

/// @title DisputeGame: the interactive dispute of docs/dispute.md, deployed and trusted by a ClaimRegistry.
/// @dev Over 600 lines on purpose: the game's moves and the seven ways a challenger proves an opening wrong share
/// its state and checks; op-specific code lives in the op family contracts (OpFamily), so this file does not grow
/// with the ops.
/// @notice The registry opens a game when a challenger bonds against a pending claim (it holds every bond). The
/// defender (the claim's operator) reveals the k children of the current trace-tree node, the challenger
/// picks the leftmost one it disputes, down to one step record; the defender opens it; the challenger
/// either proves it inconsistent (wrong instruction, operand root, operand count or output header; or an
/// output token that is not the trace's sampled token) or disputes its output tensor, descending the same
/// way to one 256-byte leaf and one element that the one-step verifier recomputes. A party that lets its
/// move deadline pass loses (timeout). Children past the end of a tree must be the empty subtree Z_h, so a
/// pick always lands on a real step or leaf. Each outcome is booked by the registry (settle): if the defender
/// loses, the claim is slashed and that challenger gets both bonds; every other game on that claim can then
/// only be closed (close), refunding its challenger's bond.
contract DisputeGame {
    enum Phase {
        None,
        TraceReveal, // defender: reveal the children of a trace-tree node
        TracePick, // challenger: pick a child (or proveWrongOutputToken)
        StepOpen, // defender: open the disputed step record
        StepOpened, // challenger: prove* or disputeOutput
        OutReveal, // defender: reveal the children of an output-tree node
        OutPick, // challenger: pick a child (or prove*)
        LeafReveal, // defender: reveal the disputed 256-byte output leaf
        LeafRevealed // challenger: oneStep (or prove*)
    }

    enum Result {
        None,
        DefenderWon,
        ChallengerWon,
        Closed
    }

    enum Reason {
        Timeout,
        WrongInstruction,
        WrongOperandCount,
        WrongOperand,
        WrongOutputHeader,
        WrongElement,
        ElementCorrect,
        WrongOutputToken
    }

    struct Game {
        uint256 claimId;
        address defender;
        uint64 deadline;
        Phase phase;
        Result result;
        uint8 height; // height of `node` in the current tree (0 = a leaf)
        address challenger;
        uint64 stepCount;
        uint32 stepsPerToken;
        uint256 bond;
        bytes32 traceRoot;
        uint256 index; // index of `node` among the nodes at `height`
        bytes32 node;
        uint64 step; // the disputed step (set by openStep)
        uint8 outDtype;
        bytes32 instrHash;
        bytes32 outMerkleRoot;
        uint256 outLeaves;
        uint256 outNumel;
        bytes32[] operandRoots;
        uint256[] outShape;
        bytes32[] children;
        bytes leaf;
    }

    /// A step record's preimage: keccak256("step" || u64 i || instrHash || u8 n || operandRoots || outputRoot).
    struct StepOpening {
        bytes32 instrHash;
        bytes32[] operandRoots;
        bytes32 outputRoot;
    }

    /// A tensor header: tensorRoot = keccak256("tensor" || u8 dtype || u8 ndim || u32 dims || merkleRoot).
    struct Header {
        uint8 dtype;
        uint256[] shape;
        bytes32 merkleRoot;
    }

    uint8 internal constant I32 = 3;
    uint8 internal constant I64 = 4;
    uint256 internal constant KIND_WEIGHT = 0;
    uint256 internal constant KIND_TOKEN = 1;
    uint256 internal constant KIND_LOCAL = 2;
    uint256 internal constant KIND_STATE = 3;
    uint256 internal constant KIND_RUN = 4;
    uint256 internal constant TOKENS_PER_LEAF = 64; // int32 tokens in a 256-byte leaf
    uint256 internal constant MAX_NUMEL = 1 << 64;
    /// Cap on a defender deadline's stretch (in move windows): bounds a game's length for the Quorum's slashTail.
    uint256 public constant MAX_STRETCH = 16;

    IGameRegistry public immutable registry;
    uint64 public immutable moveWindow;
    uint256 public immutable k;
    uint256 internal immutable kBits;
    IOneStep public immutable oneStepVerifier;

    mapping(uint256 => Game) internal games;
    mapping(uint256 => bool) public slashed; // claimId => a game against it ended with the defender losing
    uint256 public gameCount;

    event GameOpened(
        uint256 indexed gameId,
        uint256 indexed claimId,
        address indexed challenger,
        address defender,
        uint256 bond,
        uint8 height,
        Phase phase,
        uint64 deadline
    );
    event Revealed(uint256 indexed gameId, Phase phase, uint8 height, uint256 index, bytes32[] children, uint64 deadline);
    event Picked(uint256 indexed gameId, Phase phase, uint256 child, uint8 height, uint256 index, bytes32 node, uint64 deadline);
    event StepOpened(
        uint256 indexed gameId,
        uint64 step,
        bytes32 instrHash,
        bytes32[] operandRoots,
        uint8 outDtype,
        uint256[] outShape,
        bytes32 outMerkleRoot,
        uint64 deadline
    );
    event OutputDisputed(uint256 indexed gameId, uint8 height, uint256 outLeaves, uint64 deadline);
    event LeafRevealed(uint256 indexed gameId, uint256 leafIndex, bytes leaf, uint64 deadline);
    event OneStepChecked(uint256 indexed gameId, uint256 element, int256 recomputed, int256 claimed);
    event GameResolved(uint256 indexed gameId, uint256 indexed claimId, bool defenderWon, Reason reason);
    event GameClosed(uint256 indexed gameId, uint256 indexed claimId, address indexed challenger, uint256 refund);

    error BadParams();
    error NotRegistry();
    error UnknownGame();
    error GameOver();
    error ClaimNotPending();
    error ClaimStillPending();
    error NotAParty();
    error NotYourTurn();
    error WrongPhase();
    error DeadlinePassed();
    error DeadlineNotPassed();
    error BadChildren();
    error PaddingNotEmpty();
    error BadIndex();
    error PickPadding();
    error BadHeader();
    error BadRecord();
    error BadLeaf();
    error BadInstr();
    error BadOperand();
    error BadProof();
    error NotWrong();

    /// Deployed by the registry (msg.sender): per-move window (seconds > 0), arity k (a power of two in [2, 64]), one-step verifier.
    constructor(uint64 moveWindow_, uint256 k_, address oneStep_) {
        if (moveWindow_ == 0 || k_ < 2 || k_ > 64 || k_ & (k_ - 1) != 0 || oneStep_.code.length == 0) {
            revert BadParams();
        }
        registry = IGameRegistry(msg.sender);
        moveWindow = moveWindow_;
        k = k_;
        kBits = Merkle.ceilLog2(k_);
        oneStepVerifier = IOneStep(oneStep_);
    }

    // -- opening and ending games ------------------------------------------------------------------

    /// Registry only: open a game on a claim at the root of its trace tree; the defender moves first.
    function open(GameClaim calldata gc) external returns (uint256 gameId) {
        if (msg.sender != address(registry)) revert NotRegistry();
        gameId = ++gameCount;
        Game storage g = games[gameId];
        g.claimId = gc.claimId;
        g.defender = gc.defender;
        g.challenger = gc.challenger;
        g.bond = gc.bond;
        g.stepCount = gc.stepCount;
        g.stepsPerToken = gc.stepsPerToken;
        g.traceRoot = gc.traceRoot;
        g.node = gc.traceRoot;
        g.height = uint8(Merkle.ceilLog2(gc.stepCount));
        g.phase = g.height == 0 ? Phase.StepOpen : Phase.TraceReveal;
        g.deadline = _defenderDeadline(gc.claimId);
        emit GameOpened(gameId, gc.claimId, gc.challenger, gc.defender, gc.bond, g.height, g.phase, g.deadline);
    }

    /// Anyone, once the deadline has passed: the party whose turn it is loses.
    function timeout(uint256 gameId) external {
        Game storage g = _live(gameId);
        if (block.timestamp < g.deadline) revert DeadlineNotPassed();
        _resolve(gameId, g, !_defenderToMove(g.phase), Reason.Timeout);
    }

    /// Anyone, once another game slashed this game's claim: close it, refunding the challenger's bond.
    function close(uint256 gameId) external {
        Game storage g = games[gameId];
        if (g.phase == Phase.None) revert UnknownGame();
        if (g.result != Result.None) revert GameOver();
        if (!slashed[g.claimId]) revert ClaimStillPending();
        g.result = Result.Closed;
        emit GameClosed(gameId, g.claimId, g.challenger, g.bond);
        registry.settle(gameId, g.claimId, g.challenger, g.bond, Outcome.Closed);
    }

    // -- the descent (phase 1 over the trace tree, phase 2 over the output tensor's tree) ------------

    /// Defender: reveal the children of the current node (k of them, 2^height if fewer levels remain).
    function reveal(uint256 gameId, bytes32[] calldata children) external {
        Game storage g = _move(gameId, true);
        bool trace = g.phase == Phase.TraceReveal;
        if (!trace && g.phase != Phase.OutReveal) revert WrongPhase();
        uint256 levels = g.height < kBits ? g.height : kBits;
        if (children.length != 1 << levels || _fold(children, levels) != g.node) revert BadChildren();
        uint256 childHeight = g.height - levels;
        uint256 count = trace ? g.stepCount : g.outLeaves;
        uint256 first = g.index << levels;
        for (uint256 p = 0; p < children.length; ++p) {
            if ((first + p) << childHeight >= count && children[p] != Merkle.zeroHash(childHeight)) {
                revert PaddingNotEmpty();
            }
        }
        g.children = children;
        g.phase = trace ? Phase.TracePick : Phase.OutPick;
        g.deadline = _nextDeadline();
        emit Revealed(gameId, g.phase, g.height, g.index, children, g.deadline);
    }

    /// Challenger: descend into revealed child `child` (one whose range starts before the end of the tree).
    function pick(uint256 gameId, uint256 child) external {
        Game storage g = _move(gameId, false);
        bool trace = g.phase == Phase.TracePick;
        if (!trace && g.phase != Phase.OutPick) revert WrongPhase();
        uint256 n = g.children.length;
        if (child >= n) revert BadIndex();
        uint256 levels = Merkle.ceilLog2(n);
        uint256 childHeight = g.height - levels;
        uint256 index = (g.index << levels) + child;
        if (index << childHeight >= (trace ? g.stepCount : g.outLeaves)) revert PickPadding();
        g.node = g.children[child];
        g.index = index;
        g.height = uint8(childHeight);
        if (childHeight == 0) g.phase = trace ? Phase.StepOpen : Phase.LeafReveal;
        else g.phase = trace ? Phase.TraceReveal : Phase.OutReveal;
        g.deadline = _defenderDeadline(g.claimId);
        emit Picked(gameId, trace ? Phase.TracePick : Phase.OutPick, child, g.height, index, g.node, g.deadline);
    }

    /// Defender: open the disputed step record as its preimage (instruction hash, operand roots, output header).
    function openStep(
        uint256 gameId,
        bytes32 instrHash,
        bytes32[] calldata operandRoots,
        uint8 outDtype,
        uint256[] calldata outShape,
        bytes32 outMerkleRoot
    ) external {
        Game storage g = _move(gameId, true);
        if (g.phase != Phase.StepOpen) revert WrongPhase();
        if (outDtype > I64) revert BadHeader();
        bytes32 outRoot = _headerRoot(outDtype, outShape, outMerkleRoot);
        if (_recordHash(uint64(g.index), instrHash, operandRoots, outRoot) != g.node) revert BadRecord();
        uint256 numel = 1;
        for (uint256 d = 0; d < outShape.length; ++d) {
            numel *= outShape[d]; // each dim < 2^32 (checked by _tensorRoot) and numel capped: no overflow
            if (numel > MAX_NUMEL) revert BadHeader();
        }
        uint256 bytes_ = numel * Merkle.widthOf(outDtype);
        g.step = uint64(g.index);
        g.instrHash = instrHash;
        g.operandRoots = operandRoots;
        g.outDtype = outDtype;
        g.outShape = outShape;
        g.outMerkleRoot = outMerkleRoot;
        g.outNumel = numel;
        g.outLeaves = bytes_ == 0 ? 1 : (bytes_ + Merkle.LEAF_BYTES - 1) / Merkle.LEAF_BYTES;
        g.phase = Phase.StepOpened;
        g.deadline = _nextDeadline();
        emit StepOpened(gameId, g.step, instrHash, operandRoots, outDtype, outShape, outMerkleRoot, g.deadline);
    }

    /// Challenger: dispute the opened step's output tensor (phase 2 starts at its Merkle root).
    function disputeOutput(uint256 gameId) external {
        Game storage g = _move(gameId, false);
        if (g.phase != Phase.StepOpened) revert WrongPhase();
        g.node = g.outMerkleRoot;
        g.height = uint8(Merkle.ceilLog2(g.outLeaves));
        g.index = 0;
        g.phase = g.height == 0 ? Phase.LeafReveal : Phase.OutReveal;
        g.deadline = _defenderDeadline(g.claimId);
        emit OutputDisputed(gameId, g.height, g.outLeaves, g.deadline);
    }

    /// Defender: reveal the disputed 256-byte output leaf (its leaf hash is the current node).
    function revealLeaf(uint256 gameId, bytes calldata leaf) external {
        Game storage g = _move(gameId, true);
        if (g.phase != Phase.LeafReveal) revert WrongPhase();
        if (leaf.length != Merkle.LEAF_BYTES || Merkle.leafHash(leaf) != g.node) revert BadLeaf();
        g.leaf = leaf;
        g.phase = Phase.LeafRevealed;
        g.deadline = _nextDeadline();
        emit LeafRevealed(gameId, g.index, leaf, g.deadline);
    }

    /// Challenger: recompute element j of the revealed leaf with the one-step verifier; differ -> defender loses, equal -> challenger loses.
    function oneStep(uint256 gameId, bytes calldata instrBytes, Operand[] calldata operands, uint256 j)
        external
    {
        Game storage g = _move(gameId, false);
        if (g.phase != Phase.LeafRevealed) revert WrongPhase();
        if (keccak256(abi.encodePacked("instr", instrBytes)) != g.instrHash) revert BadInstr();
        uint256 perLeaf = Merkle.LEAF_BYTES / Merkle.widthOf(g.outDtype);
        if (j >= perLeaf) revert BadIndex();
        uint256 e = g.index * perLeaf + j;
        int256 claimed = _leafElement(g, j);
        int256 recomputed; // an element past the tensor's end is zero padding
        if (e < g.outNumel) {
            recomputed = oneStepVerifier.element(instrBytes, g.step / g.stepsPerToken, g.operandRoots, operands, e);
        }
        emit OneStepChecked(gameId, e, recomputed, claimed);
        bool differs = recomputed != claimed;
        _resolve(gameId, g, !differs, differs ? Reason.WrongElement : Reason.ElementCorrect);
    }

    // -- the challenger's proofs that the opened step (or the claimed output) is inconsistent --------

    /// Challenger: the template's instruction i mod S (leaf with proof against templateRoot) differs from the opened instrHash.
    function proveWrongInstruction(uint256 gameId, bytes32 templateLeaf, bytes32[] calldata proof) external {
        Game storage g = _proofMove(gameId);
        Evidence memory ev = registry.evidence(g.claimId);
        if (proof.length != Merkle.ceilLog2(g.stepsPerToken)) revert BadProof();
        if (!Merkle.verifyProof(ev.templateRoot, templateLeaf, g.step % g.stepsPerToken, proof)) revert BadProof();
        if (templateLeaf == g.instrHash) revert NotWrong();
        _resolve(gameId, g, false, Reason.WrongInstruction);
    }

    /// Challenger: the instruction (preimage of instrHash) has a different number of operands than the record.
    function proveWrongOperandCount(uint256 gameId, bytes calldata instrBytes) external {
        Game storage g = _proofMove(gameId);
        if (_operands(g, instrBytes).length == g.operandRoots.length) revert NotWrong();
        _resolve(gameId, g, false, Reason.WrongOperandCount);
    }

    /// Challenger: operand m (local, state at t >= 1, or a generated token) != the output root of its source step's record.
    function proveOperandFromStep(
        uint256 gameId,
        bytes calldata instrBytes,
        uint256 m,
        StepOpening calldata src,
        bytes32[] calldata traceProof
    ) external {
        Game storage g = _proofMove(gameId);
        (uint256 kind, uint256 idx) = _operandRef(g, instrBytes, m);
        uint256 S = g.stepsPerToken;
        uint256 t = g.step / S;
        uint256 source;
        if (kind == KIND_LOCAL && idx < g.step % S) source = t * S + idx;
        else if (kind == KIND_STATE && t > 0 && idx < S) source = (t - 1) * S + idx;
        else if (kind == KIND_TOKEN && t > 0 && t >= registry.evidence(g.claimId).promptLen) source = t * S - 1;
        else revert BadOperand(); // (a generated token is the output of position t-1's last instruction, the sampler)
        _verifyRecord(g, source, src, traceProof);
        _operandVerdict(gameId, g, m, src.outputRoot);
    }

    /// Challenger: state operand m at position 0 != oneStep.emptyStateRoot(its source instruction, context).
    function proveOperandEmptyState(
        uint256 gameId,
        bytes calldata instrBytes,
        uint256 m,
        bytes calldata srcInstrBytes,
        bytes32[] calldata templateProof
    ) external {
        Game storage g = _proofMove(gameId);
        (uint256 kind, uint256 idx) = _operandRef(g, instrBytes, m);
        if (kind != KIND_STATE || g.step >= g.stepsPerToken) revert BadOperand();
        Evidence memory ev = registry.evidence(g.claimId);
        bytes32 leaf = keccak256(abi.encodePacked("instr", srcInstrBytes));
        if (templateProof.length != Merkle.ceilLog2(g.stepsPerToken)) revert BadProof();
        if (!Merkle.verifyProof(ev.templateRoot, leaf, idx, templateProof)) revert BadProof();
        _operandVerdict(gameId, g, m, oneStepVerifier.emptyStateRoot(srcInstrBytes, ev.context));
    }

    /// Challenger: weight operand m != the weight's tensor root (header preimage, proof against weightsRoot).
    function proveOperandWeight(
        uint256 gameId,
        bytes calldata instrBytes,
        uint256 m,
        Header calldata weight,
        bytes32[] calldata proof
    ) external {
        Game storage g = _proofMove(gameId);
        (uint256 kind, uint256 idx) = _operandRef(g, instrBytes, m);
        if (kind != KIND_WEIGHT) revert BadOperand();
        bytes32 root = _headerRoot(weight.dtype, weight.shape, weight.merkleRoot);
        if (!Merkle.verifyProof(registry.evidence(g.claimId).weightsRoot, root, idx, proof)) revert BadProof();
        _operandVerdict(gameId, g, m, root);
    }

    /// Challenger: token operand m at a prompt position != the root of that prompt token (its leaf, proof against the prompt).
    function proveOperandPromptToken(
        uint256 gameId,
        bytes calldata instrBytes,
        uint256 m,
        bytes calldata promptLeaf,
        bytes32[] calldata proof
    ) external {
        Game storage g = _proofMove(gameId);
        (uint256 kind,) = _operandRef(g, instrBytes, m);
        Evidence memory ev = registry.evidence(g.claimId);
        uint256 t = g.step / g.stepsPerToken;
        if (kind != KIND_TOKEN || t >= ev.promptLen) revert BadOperand();
        int256 tok = _tokenAt(ev.promptMerkleRoot, ev.promptLen, t, promptLeaf, proof);
        _operandVerdict(gameId, g, m, _tokenRoot(tok));
    }

    /// Challenger: run operand m != the claim's run root.
    function proveOperandRun(uint256 gameId, bytes calldata instrBytes, uint256 m) external {
        Game storage g = _proofMove(gameId);
        (uint256 kind,) = _operandRef(g, instrBytes, m);
        if (kind != KIND_RUN) revert BadOperand();
        _operandVerdict(gameId, g, m, registry.evidence(g.claimId).runRoot);
    }

    /// Challenger: the opened output header is not (i32, oneStep.outShape(instruction, position, operand shapes)).
    function proveWrongOutputHeader(uint256 gameId, bytes calldata instrBytes, Header[] calldata operandHeaders)
        external
    {
        Game storage g = _proofMove(gameId);
        if (keccak256(abi.encodePacked("instr", instrBytes)) != g.instrHash) revert BadInstr();
        uint256 n = operandHeaders.length;
        if (n != g.operandRoots.length) revert BadOperand();
        uint256[][] memory shapes = new uint256[][](n);
        for (uint256 i = 0; i < n; ++i) {
            Header calldata h = operandHeaders[i];
            if (_headerRoot(h.dtype, h.shape, h.merkleRoot) != g.operandRoots[i]) revert BadHeader();
            shapes[i] = h.shape;
        }
        uint256[] memory want = oneStepVerifier.outShape(instrBytes, g.step / g.stepsPerToken, shapes);
        if (g.outDtype == I32 && keccak256(abi.encode(want)) == keccak256(abi.encode(g.outShape))) revert NotWrong();
        _resolve(gameId, g, false, Reason.WrongOutputHeader);
    }

    /// Challenger, at any of its turns: output token j (leaf, proof) != the output root of the sample step that produced it.
    function proveWrongOutputToken(
        uint256 gameId,
        uint256 j,
        bytes calldata outLeaf,
        bytes32[] calldata outProof,
        StepOpening calldata src,
        bytes32[] calldata traceProof
    ) external {
        Game storage g = _move(gameId, false);
        Evidence memory ev = registry.evidence(g.claimId);
        int256 tok = _tokenAt(ev.outputMerkleRoot, ev.outputLen, j, outLeaf, outProof);
        // output token j is sampled at position promptLen - 1 + j, by its last instruction
        uint256 source = (uint256(ev.promptLen) + j) * g.stepsPerToken - 1;
        _verifyRecord(g, source, src, traceProof);
        if (_tokenRoot(tok) == src.outputRoot) revert NotWrong();
        _resolve(gameId, g, false, Reason.WrongOutputToken);
    }

    // -- views -----------------------------------------------------------------------------------------

    /// The game with this id (phase None if there is none).
    function getGame(uint256 gameId) external view returns (Game memory) {
        return games[gameId];
    }

    /// The address that must move next and its deadline (address(0) once the game is over).
    function turn(uint256 gameId) external view returns (address who, uint64 deadline) {
        Game storage g = games[gameId];
        if (g.phase == Phase.None || g.result != Result.None) return (address(0), 0);
        who = _defenderToMove(g.phase) ? g.defender : g.challenger;
        deadline = g.deadline;
    }

    // -- internals -------------------------------------------------------------------------------------

    /// A live game: it exists, is unresolved, and its claim has not been slashed by another game.
    function _live(uint256 gameId) internal view returns (Game storage g) {
        g = games[gameId];
        if (g.phase == Phase.None) revert UnknownGame();
        if (g.result != Result.None) revert GameOver();
        if (slashed[g.claimId]) revert ClaimNotPending();
    }

    /// A live game where msg.sender is the party to move (the defender iff byDefender), before the deadline.
    function _move(uint256 gameId, bool byDefender) internal view returns (Game storage g) {
        g = _live(gameId);
        if (msg.sender != g.defender && msg.sender != g.challenger) revert NotAParty();
        if (msg.sender != (byDefender ? g.defender : g.challenger)) revert NotYourTurn();
        if (_defenderToMove(g.phase) != byDefender) revert NotYourTurn();
        if (block.timestamp >= g.deadline) revert DeadlinePassed();
    }

    /// A challenger move proving the opened step inconsistent (at the challenger's turns after openStep).
    function _proofMove(uint256 gameId) internal view returns (Game storage g) {
        g = _move(gameId, false);
        if (g.phase != Phase.StepOpened && g.phase != Phase.OutPick && g.phase != Phase.LeafRevealed) {
            revert WrongPhase();
        }
    }

    /// True in the phases where the defender moves.
    function _defenderToMove(Phase p) internal pure returns (bool) {
        return p == Phase.TraceReveal || p == Phase.StepOpen || p == Phase.OutReveal || p == Phase.LeafReveal;
    }

    /// End the game and have the registry book it (a defender's loss slashes the claim for every game on it).
    function _resolve(uint256 gameId, Game storage g, bool defenderWon, Reason reason) internal {
        g.result = defenderWon ? Result.DefenderWon : Result.ChallengerWon;
        if (!defenderWon) slashed[g.claimId] = true;
        emit GameResolved(gameId, g.claimId, defenderWon, reason);
        registry.settle(
            gameId, g.claimId, g.challenger, g.bond, defenderWon ? Outcome.DefenderWon : Outcome.ChallengerWon
        );
    }

    /// Decide an operand proof: the true root differs from the opened operand root m -> the defender loses.
    function _operandVerdict(uint256 gameId, Game storage g, uint256 m, bytes32 trueRoot) internal {
        if (g.operandRoots[m] == trueRoot) revert NotWrong();
        _resolve(gameId, g, false, Reason.WrongOperand);
    }

    /// Record `step` (preimage src) is leaf `step` of the claim's trace tree (a proof of exactly its depth).
    function _verifyRecord(Game storage g, uint256 step, StepOpening calldata src, bytes32[] calldata proof)
        internal
        view
    {
        if (proof.length != Merkle.ceilLog2(g.stepCount)) revert BadProof();
        bytes32 rec = _recordHash(uint64(step), src.instrHash, src.operandRoots, src.outputRoot);
        if (!Merkle.verifyProof(g.traceRoot, rec, step, proof)) revert BadProof();
    }

    /// The opened instruction's operand list, from instrBytes whose hash must be the opened instrHash.
    function _operands(Game storage g, bytes calldata instrBytes) internal view returns (uint256[] memory ops) {
        if (keccak256(abi.encodePacked("instr", instrBytes)) != g.instrHash) revert BadInstr();
        (, ops,) = abi.decode(instrBytes, (uint256, uint256[], int256[]));
    }

    /// (kind, idx) of operand m of the opened instruction; m must index both the instruction and the record.
    function _operandRef(Game storage g, bytes calldata instrBytes, uint256 m)
        internal
        view
        returns (uint256 kind, uint256 idx)
    {
        uint256[] memory ops = _operands(g, instrBytes);
        if (m >= ops.length || m >= g.operandRoots.length) revert BadOperand();
        kind = ops[m] >> 32;
        idx = ops[m] & 0xffffffff;
    }

    /// Element e of an int32 token tensor of n elements with this Merkle root, from its leaf with a proof of exact depth.
    function _tokenAt(bytes32 root, uint256 n, uint256 e, bytes calldata leaf, bytes32[] calldata proof)
        internal
        pure
        returns (int256)
    {
        if (e >= n) revert BadIndex();
        uint256 depth = Merkle.ceilLog2((n + TOKENS_PER_LEAF - 1) / TOKENS_PER_LEAF);
        if (proof.length != depth || !Merkle.verifyLeaf(root, leaf, e / TOKENS_PER_LEAF, proof)) revert BadProof();
        return Merkle.readElement(leaf, I32, e % TOKENS_PER_LEAF);
    }

    /// tensorRoot(i32, [1], leaf hash of tok big-endian then 252 zero bytes): the root of a token operand.
    function _tokenRoot(int256 tok) internal pure returns (bytes32) {
        bytes32 leaf = keccak256(abi.encodePacked("leaf", int32(tok), new bytes(252)));
        uint32[] memory one = new uint32[](1);
        one[0] = 1;
        return Merkle.tensorRoot(I32, one, leaf);
    }

    /// Element j of the stored leaf as a signed big-endian integer of the output dtype's width (raw: unsigned).
    function _leafElement(Game storage g, uint256 j) internal view returns (int256) {
        bytes memory leaf = g.leaf;
        uint256 w = Merkle.widthOf(g.outDtype);
        uint256 x;
        for (uint256 b = 0; b < w; ++b) {
            x = (x << 8) | uint8(leaf[j * w + b]);
        }
        if (g.outDtype == 0 || x < 1 << (8 * w - 1)) return int256(x);
        return int256(x) - int256(1 << (8 * w));
    }

    /// keccak256("step" || u64 i || instrHash || u8 n || operandRoots || outputRoot) (docs/encoding.md step_record).
    function _recordHash(uint64 i, bytes32 instrHash, bytes32[] calldata roots, bytes32 outRoot)
        internal
        pure
        returns (bytes32)
    {
        if (roots.length > 255) revert BadHeader();
        return keccak256(abi.encodePacked("step", i, instrHash, uint8(roots.length), roots, outRoot));
    }


    /// Root of the subtree whose 2^levels leaves are `nodes` (left to right).
    function _fold(bytes32[] calldata nodes, uint256 levels) internal pure returns (bytes32) {
        uint256 n = nodes.length;
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            level[i] = nodes[i];
        }
        for (uint256 l = 0; l < levels; ++l) {
            n >>= 1;
            for (uint256 i = 0; i < n; ++i) {
                level[i] = Merkle.nodeHash(level[2 * i], level[2 * i + 1]);
            }
        }
        return level[0];
    }



    /// block.timestamp + moveWindow: the challenger's deadline (it plays one game).
    function _nextDeadline() internal view returns (uint64) {
        return uint64(block.timestamp) + moveWindow;
    }

    /// block.timestamp + moveWindow * min(open games on the claim, MAX_STRETCH): the defender answers every game on
    /// its claim, so n games get n windows (one honest move a window, as moveWindow is sized) and extra games
    /// cannot ask it for more moves per window (docs/dispute.md, time rules).
    function _defenderDeadline(uint256 claimId) internal view returns (uint64) {
        uint256 n = registry.openGamesOf(claimId);
        uint64 stretch = uint64(n == 0 ? 1 : n < MAX_STRETCH ? n : MAX_STRETCH);
        return uint64(block.timestamp) + moveWindow * stretch; // checked: reverts rather than wraps
    }

    /// tensorRoot of a header whose dims each fit u32 (BadHeader otherwise: no trace holds such a tensor).
    function _headerRoot(uint8 dtype, uint256[] calldata shape, bytes32 merkleRoot) internal pure returns (bytes32) {
        (bool ok, bytes32 h) = Merkle.headerRoot(dtype, shape, merkleRoot);
        if (!ok) revert BadHeader();
        return h;
    }
}
