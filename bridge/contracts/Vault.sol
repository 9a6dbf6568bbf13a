// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title perpchain Vault
/// @notice Holds the collateral (a USDC-like ERC-20) of the perpchain app chain. Deposits are
/// pulled here and announced by an event with a strictly increasing nonce, which the validators
/// attest on the chain. Withdrawals are paid once per id when validators holding more than 2/3 of
/// the registered power sign an EIP-712 digest of (id, recipient, amount) bound to this vault and
/// this Ethereum chain. The same super-majority of the current set hands over to the next set.
/// @dev The validator set lives in storage (power per address plus the ordered list), so a
/// withdrawal carries only signatures; see docs/bridge.md for the trade-off against a Gravity-style
/// checkpoint with the set passed in calldata. Fee-on-transfer tokens are not supported: the
/// deposited amount is the amount asked for.
///
/// Escape hatch (docs/anchoring.md): the same super-majority posts an anchor of the chain's
/// claimable balances (a Merkle root) every few blocks. When none has arrived for `freezePeriod`,
/// the vault is frozen: deposits and anchors stop, each address `exit`s once with a proof of its
/// anchored amount, and deposits the anchor does not include are reclaimed once by their depositor.
///
/// One ledger bounds every payment (docs/bridge.md, "Every way out of the vault"): the latest
/// anchor says what the chain owes through exits (`totalClaimable`) and through withdrawals
/// (`anchoredWithdrawnTotal`, the withdrawals up to `anchoredWithdrawalId`), and the vault owes
/// back every deposit the anchor does not include. A withdrawal is paid only once an anchor covers
/// it, so the balances an exit proves never contain money a withdrawal already paid. An anchor is
/// refused if the vault could not pay all of that (`owed()`), so every payment stays possible.
///
/// Bonds and fraud proofs (docs/bridge.md, "Bonds and fraud proofs"): `bond` locks a validator
/// key's bond here, announced as a deposit to subaccount 255 so the chain credits it to its
/// staking module. A bond is not a user deposit: it is kept out of the deposits' running sum and
/// owed as its own term (`totalBonded`). Anyone who holds two signatures by one key over
/// different anchors with the same nonce, or different withdrawals with the same id, submits them:
/// the key's whole bond is forfeited (REPORTER_SHARE_BPS of it to the reporter, the rest to
/// `insurancePool`) and its vote is gone for good. After a freeze, an unforfeited bond goes back
/// to its signer key through `reclaimBond()`, one freeze period later (the window for proofs).
/// The genesis validators' bonds are given to the constructor. What the chain slashes reaches the
/// vault with the next anchor: each anchor carries the chain's cumulative debit per key, and the
/// vault lowers `bondOf` by what is new (docs/anchoring.md, "Bond debits").
contract Vault is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice A 65-byte secp256k1 signature r || s || v, v in {27, 28}, s in the lower half order.
    struct Signature {
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    string public constant NAME = "perpchain-vault";
    string public constant VERSION = "1";
    uint8 public constant MAX_SUBACCOUNT = 127;
    /// @notice The subaccount a bond's Deposited event names: deposit() never reaches it.
    uint8 public constant BOND_SUBACCOUNT = 255;
    /// @notice The reporter's share of a forfeited bond, in basis points; the rest is insurance.
    uint256 public constant REPORTER_SHARE_BPS = 1_000;
    /// @notice Bounds the cost of a valset update and of a withdrawal signed by the whole set.
    uint256 public constant MAX_VALIDATORS = 128;
    /// @notice Bounds an anchor's bond debit list (the chain lists at most this many keys).
    uint256 public constant MAX_BOND_DEBITS = 128;
    /// @notice Bounds the total power so that `power * 3` can never overflow.
    uint256 public constant MAX_TOTAL_POWER = type(uint128).max;

    bytes32 public constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 public constant WITHDRAWAL_TYPEHASH = keccak256("Withdrawal(uint64 id,address recipient,uint256 amount)");
    bytes32 public constant VALSET_TYPEHASH = keccak256("Valset(address[] validators,uint256[] powers,uint64 nonce)");
    bytes32 private constant _NAME_HASH = keccak256("perpchain-vault");
    bytes32 private constant _VERSION_HASH = keccak256("1");
    /// @dev secp256k1 group order / 2: an s above it is the malleable twin of a valid signature (EIP-2).
    uint256 private constant _HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice The chain's balances at one height, as validators sign it (wire/anchor.py).
    struct AnchorRecord {
        uint64 nonce;
        string chainId;
        uint64 height;
        bytes32 appHash;
        bytes32 balancesRoot;
        uint256 totalClaimable;
        uint64 depositNonce;
        uint64 withdrawalId;
        uint256 withdrawnTotal;
        bytes32 bondDebitsHash;
    }

    /// @notice What the chain has taken, in all, from the bond of validator key `signer` (slashes):
    /// an anchor carries the whole list, by strictly increasing signer, as keccak256(abi.encode(list)).
    struct BondDebit {
        address signer;
        uint256 debitedTotal;
    }

    /// @notice Who deposited, and the sum of every deposit up to and including this one (so a
    /// deposit's amount and the sum of any range of deposits are two reads). `sender` is cleared
    /// once the deposit is reclaimed. A bond's nonce keeps its bonder and adds 0 to the sum (a
    /// deposit is never 0), which is how reclaim() tells a bond from a deposit.
    struct DepositRecord {
        address sender;
        uint96 depositedThrough;
    }

    bytes32 public constant ANCHOR_TYPEHASH = keccak256(
        "Anchor(uint64 nonce,string chainId,uint64 height,bytes32 appHash,bytes32 balancesRoot,uint256 totalClaimable,uint64 depositNonce,uint64 withdrawalId,uint256 withdrawnTotal,bytes32 bondDebitsHash)"
    );

    /// @notice The collateral token.
    IERC20 public immutable token;
    /// @notice Seconds without a new anchor after which anyone may freeze the vault.
    uint64 public immutable freezePeriod;

    /// @notice Nonce of the latest deposit; the first deposit gets 1.
    uint64 public lastDepositNonce;
    /// @notice Nonce of the current validator set; the constructor's set has 0.
    uint64 public valsetNonce;
    /// @notice Sum of the current set's powers.
    uint256 public totalPower;
    /// @notice EIP-712 struct hash of the current set: hashStruct(Valset(validators, powers, nonce)).
    bytes32 public valsetCheckpoint;
    /// @notice Power of each current validator; 0 for anyone else.
    mapping(address validator => uint256) public powerOf;
    /// @notice Withdrawal ids already paid.
    mapping(uint64 withdrawalId => bool) public withdrawalPaid;
    /// @notice Sum of every withdrawal paid; never above anchoredWithdrawnTotal.
    uint256 public totalWithdrawn;
    address[] private _validators;

    // The latest anchor (packed: nonce, height and the two bridge counters share one slot).
    uint64 public anchorNonce;
    uint64 public anchoredHeight;
    uint64 public anchoredDepositNonce;
    uint64 public anchoredWithdrawalId;
    /// @notice When the latest anchor arrived (the deployment time before the first).
    uint64 public lastAnchorTime;
    /// @notice Whether someone has called freeze() (the vault is frozen from freezesAt() either way).
    bool public freezeRecorded;
    bytes32 public balancesRoot;
    uint256 public totalClaimable;
    /// @notice Sum of the amounts of withdrawals 1..anchoredWithdrawalId, as the chain queued them.
    uint256 public anchoredWithdrawnTotal;
    /// @notice Sum of every exit paid; never above totalClaimable.
    uint256 public totalExited;
    /// @notice Sum of every deposit reclaimed.
    uint256 public totalReclaimed;
    mapping(address account => bool) public exited;
    mapping(uint64 depositNonce => DepositRecord) private _deposits;

    /// @notice Each signer key's bond: added by bond(), zeroed by forfeiture or reclaimBond().
    mapping(address signer => uint256) public bondOf;
    /// @notice Sum of bondOf: the bonds term of owed().
    uint256 public totalBonded;
    /// @notice The chain's cumulative debit of each key's bond as of the latest anchor.
    mapping(address signer => uint256) public debitedOf;
    /// @notice Keys proven to have equivocated: bond gone, never again in the set.
    mapping(address signer => bool) public forfeited;
    /// @notice Total forfeited into the insurance pool (each forfeited bond minus the reporter's
    /// share). The vault owes it to no one, so it is balance above owed(): it backs claims an
    /// anchor makes beyond the users' own deposits (e.g. what the chain's insurance fund pays to
    /// cover bad debt), and exits and withdrawals are paid from it like from any other balance.
    /// A cumulative counter; what remains unspent is balance minus the sum of owed().
    uint256 public insurancePool;

    event Deposited(
        uint64 indexed depositNonce, address indexed sender, address indexed recipient, uint8 subaccount, uint256 amount
    );
    event Withdrawn(uint64 indexed withdrawalId, address indexed recipient, uint256 amount);
    event ValsetUpdated(uint64 indexed nonce, bytes32 checkpoint, address[] validators, uint256[] powers);
    event Anchored(
        uint64 indexed nonce,
        uint64 height,
        bytes32 appHash,
        bytes32 balancesRoot,
        uint256 totalClaimable,
        uint64 depositNonce,
        uint64 withdrawalId,
        uint256 withdrawnTotal
    );
    event Frozen(uint64 anchorNonce, bytes32 balancesRoot, uint256 totalClaimable);
    event Exited(address indexed account, uint256 amount);
    event Reclaimed(uint64 indexed depositNonce, address indexed sender, uint256 amount);
    /// @notice `signer` equivocated: `bond` forfeited, `reporterShare` of it paid to `reporter`,
    /// the rest to the insurance pool, and `power` (0 if it held none) taken from the set.
    event BondForfeited(
        address indexed signer, address indexed reporter, uint256 bond, uint256 reporterShare, uint256 power
    );
    event BondReclaimed(address indexed signer, uint256 amount);
    /// @notice An anchor said the chain took `debited` more from `signer`'s bond (`debitedTotal` in
    /// all); `applied` of it left bondOf (less when the bond held less, e.g. forfeited).
    event BondDebited(address indexed signer, uint256 debited, uint256 applied, uint256 debitedTotal);

    // Deposits and withdrawals.
    error ZeroAmount();
    error ZeroRecipient();
    error SubaccountOutOfRange(uint8 subaccount);
    error AlreadyPaid(uint64 withdrawalId);
    // Signatures; `index` is the position in the signature array.
    error InvalidV(uint256 index, uint8 v);
    error HighS(uint256 index);
    error BadSignature(uint256 index);
    error UnknownSigner(uint256 index, address signer);
    error DuplicateOrUnsortedSigner(uint256 index, address signer);
    error InsufficientPower(uint256 signedPower, uint256 totalPower);
    // Validator sets.
    error ZeroToken();
    error StaleValsetNonce(uint64 given, uint64 current);
    error EmptyValset();
    error TooManyValidators(uint256 count, uint256 max);
    error ValsetLengthMismatch(uint256 validators, uint256 powers);
    error UnsortedValidator(uint256 index, address validator);
    error ZeroPower(uint256 index);
    error TotalPowerTooLarge(uint256 total);
    // Anchors and the escape hatch.
    error AmountTooLarge(uint256 amount);
    error VaultFrozen();
    error NotFrozen();
    error StaleAnchorNonce(uint64 given, uint64 current);
    error UnknownDepositNonce(uint64 given, uint64 last);
    error FreezeTooEarly(uint256 now_, uint256 freezableAt);
    error WithdrawalNotAnchored(uint64 withdrawalId, uint64 anchoredWithdrawalId);
    error ExceedsAnchoredWithdrawals(uint256 requested, uint256 remaining);
    error AnchorCounterBehind(uint256 given, uint256 current);
    error AnchorExceedsVault(uint256 owed, uint256 balance);
    error DepositTotalTooLarge(uint256 total);
    error AlreadyExited(address account);
    error InvalidProof();
    error ExceedsAnchoredTotal(uint256 requested, uint256 remaining);
    error DepositAnchored(uint64 depositNonce, uint64 anchoredDepositNonce);
    error NothingToReclaim(uint64 depositNonce);
    error NotDepositor(uint64 depositNonce, address depositor);
    error InsufficientVaultBalance(uint256 balance, uint256 amount);
    // Bonds and fraud proofs.
    error SignerForfeited(address signer);
    error BondNotReclaimable(uint64 depositNonce);
    error BondsLocked(uint256 now_, uint256 releasedAt);
    error NoBond(address signer);
    error NoncesDiffer(uint64 nonceA, uint64 nonceB);
    error NotConflicting(bytes32 digest);
    error DifferentSigners(address signerA, address signerB);
    error AlreadyForfeited(address signer);
    error NothingToForfeit(address signer);
    error BondDebitsMismatch(bytes32 given, bytes32 signed);
    error TooManyBondDebits(uint256 count, uint256 max);
    error UnsortedBondDebit(uint256 index, address signer);
    error GenesisBondsLengthMismatch(uint256 validators, uint256 bonds);

    /// @param token_ the collateral token
    /// @param validators the initial set, addresses strictly increasing (so no duplicate, no zero)
    /// @param powers their voting powers, each > 0
    /// @param bonds each validator's genesis bond, as the chain's genesis bonds it (0: none here);
    /// each below 2^96 like any bond. The deployer mints their sum into the vault, as it does the
    /// genesis balances; from the first anchor on owed() counts them, so until then no anchor lands.
    /// @param freezePeriod_ seconds without an anchor before freeze() is allowed
    constructor(
        IERC20 token_,
        address[] memory validators,
        uint256[] memory powers,
        uint256[] memory bonds,
        uint64 freezePeriod_
    ) {
        if (address(token_) == address(0)) revert ZeroToken();
        token = token_;
        freezePeriod = freezePeriod_;
        lastAnchorTime = uint64(block.timestamp);
        _checkValset(validators, powers);
        if (bonds.length != validators.length) revert GenesisBondsLengthMismatch(validators.length, bonds.length);
        uint256 bonded;
        for (uint256 i; i < bonds.length; ++i) {
            if (bonds[i] > type(uint96).max) revert AmountTooLarge(bonds[i]);
            bondOf[validators[i]] = bonds[i];
            bonded += bonds[i];
        }
        totalBonded = bonded;
        _setValset(validators, powers, 0);
    }

    // ------------------------------------------------------------------ deposits

    /// @notice Pulls `amount` tokens from the caller (approve first) for `recipient`'s
    /// `subaccount` on perpchain.
    /// @return depositNonce the nonce of this deposit, one more than the previous one
    function deposit(uint256 amount, address recipient, uint8 subaccount)
        external
        nonReentrant
        returns (uint64 depositNonce)
    {
        if (frozen()) revert VaultFrozen();
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        if (recipient == address(0)) revert ZeroRecipient();
        if (subaccount > MAX_SUBACCOUNT) revert SubaccountOutOfRange(subaccount);
        uint256 through = uint256(_deposits[lastDepositNonce].depositedThrough) + amount;
        if (through > type(uint96).max) revert DepositTotalTooLarge(through);
        depositNonce = ++lastDepositNonce;
        _deposits[depositNonce] = DepositRecord(msg.sender, uint96(through));
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(depositNonce, msg.sender, recipient, subaccount, amount);
    }

    // --------------------------------------------------------------------- bonds

    /// @notice Pulls `amount` tokens from the caller (approve first) as the bond of validator key
    /// `signer` (its key in this vault's set). Takes the next deposit nonce and announces it as
    /// `Deposited(nonce, caller, signer, BOND_SUBACCOUNT, amount)`, so the chain credits it to the
    /// validator whose bridge key is `signer`. Refused once frozen, and for a forfeited key.
    /// @return depositNonce the nonce of this bond, one more than the previous deposit or bond
    function bond(uint256 amount, address signer) external nonReentrant returns (uint64 depositNonce) {
        if (frozen()) revert VaultFrozen();
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        if (signer == address(0)) revert ZeroRecipient();
        if (forfeited[signer]) revert SignerForfeited(signer);
        uint96 through = _deposits[lastDepositNonce].depositedThrough; // a bond adds nothing to the deposits' sum
        depositNonce = ++lastDepositNonce;
        _deposits[depositNonce] = DepositRecord(msg.sender, through);
        bondOf[signer] += amount;
        totalBonded += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(depositNonce, msg.sender, signer, BOND_SUBACCOUNT, amount);
    }

    /// @notice From `bondsReleasedAt()` on, pays the caller (a signer key) its whole bond. Bonds stay
    /// locked while the vault runs: on the chain they back the validator's power, and what the chain
    /// releases (slashes, unbondings) leaves them with the next anchor's bond debits. After a freeze no anchor comes, so the bond of a
    /// key no proof has caught goes back to that key, not to whoever paid it.
    function reclaimBond() external nonReentrant {
        uint256 releasedAt = bondsReleasedAt();
        if (block.timestamp < releasedAt) revert BondsLocked(block.timestamp, releasedAt);
        uint256 amount = bondOf[msg.sender];
        if (amount == 0) revert NoBond(msg.sender);
        bondOf[msg.sender] = 0;
        totalBonded -= amount;
        _pay(msg.sender, amount);
        emit BondReclaimed(msg.sender, amount);
    }

    /// @notice When reclaimBond() opens: one more `freezePeriod` after the freeze, so a fraud proof
    /// against a key seen cheating late still lands before the key can take its bond back.
    function bondsReleasedAt() public view returns (uint256) {
        return freezesAt() + freezePeriod;
    }

    // -------------------------------------------------------------- fraud proofs

    /// @notice Forfeits the bond and the vote of the key that signed both `a` and `b`: two
    /// different anchors with the same nonce. Anyone may submit, frozen or not, and earns
    /// REPORTER_SHARE_BPS of the bond; the key needs a bond or power here (an old set's key still
    /// holding a bond is punishable). See _forfeit.
    function proveAnchorEquivocation(
        AnchorRecord calldata a,
        Signature calldata sa,
        AnchorRecord calldata b,
        Signature calldata sb
    ) external nonReentrant {
        if (a.nonce != b.nonce) revert NoncesDiffer(a.nonce, b.nonce);
        _forfeit(anchorDigest(a), sa, anchorDigest(b), sb);
    }

    /// @notice Forfeits the bond and the vote of the key that signed two different withdrawals
    /// (recipient or amount) with the same `withdrawalId`; as proveAnchorEquivocation.
    function proveWithdrawalEquivocation(
        uint64 withdrawalId,
        address recipientA,
        uint256 amountA,
        Signature calldata sa,
        address recipientB,
        uint256 amountB,
        Signature calldata sb
    ) external nonReentrant {
        _forfeit(
            withdrawalDigest(withdrawalId, recipientA, amountA), sa, withdrawalDigest(withdrawalId, recipientB, amountB), sb
        );
    }

    // --------------------------------------------------------------- withdrawals

    /// @notice Pays `amount` to `recipient` once for `withdrawalId`, given signatures over
    /// `withdrawalDigest(withdrawalId, recipient, amount)` by more than 2/3 of the current power,
    /// ordered by strictly increasing signer address. Anyone may submit, frozen or not.
    /// Only withdrawals an anchor covers are paid (id <= anchoredWithdrawalId): the anchored
    /// balances exclude them, so no exit can pay the same money. A later one waits for the next
    /// anchor; if the vault freezes first, it is still inside the anchored balances and leaves
    /// through exit(). All withdrawals paid together never pass `anchoredWithdrawnTotal`.
    function withdraw(uint64 withdrawalId, address recipient, uint256 amount, Signature[] calldata sigs)
        external
        nonReentrant
    {
        // 1. checks
        if (withdrawalPaid[withdrawalId]) revert AlreadyPaid(withdrawalId);
        if (withdrawalId > anchoredWithdrawalId) revert WithdrawalNotAnchored(withdrawalId, anchoredWithdrawalId);
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert ZeroRecipient();
        _requireQuorum(withdrawalDigest(withdrawalId, recipient, amount), sigs);
        uint256 remaining = anchoredWithdrawnTotal - totalWithdrawn;
        if (amount > remaining) revert ExceedsAnchoredWithdrawals(amount, remaining);
        // 2. effects
        withdrawalPaid[withdrawalId] = true;
        totalWithdrawn += amount;
        // 3. interaction
        _pay(recipient, amount);
        emit Withdrawn(withdrawalId, recipient, amount);
    }

    // ------------------------------------------------------- anchors and escape

    /// @notice Keeps `record` as the latest anchor, given signatures of more than 2/3 of the
    /// current power over `anchorDigest(record)`. Its nonce must be above the latest's, its
    /// counters no lower than the latest's, and the vault must hold all it would then owe
    /// (`owed()`: the anchored claims, the anchored withdrawals not yet paid, the deposits the
    /// record does not include, the bonds). Refused once the vault is frozen: an anchor arriving at or after
    /// `freezesAt()` loses, whatever order it and freeze() take in a block.
    /// `debits` is the chain's bond debit list the record names by `bondDebitsHash`; each key's
    /// new debit leaves its bond (_applyBondDebits) before the vault checks what it owes.
    function anchor(AnchorRecord calldata record, Signature[] calldata sigs, BondDebit[] calldata debits)
        external
        nonReentrant
    {
        if (frozen()) revert VaultFrozen();
        if (record.nonce <= anchorNonce) revert StaleAnchorNonce(record.nonce, anchorNonce);
        if (record.depositNonce > lastDepositNonce) revert UnknownDepositNonce(record.depositNonce, lastDepositNonce);
        if (record.depositNonce < anchoredDepositNonce) {
            revert AnchorCounterBehind(record.depositNonce, anchoredDepositNonce);
        }
        if (record.withdrawalId < anchoredWithdrawalId) {
            revert AnchorCounterBehind(record.withdrawalId, anchoredWithdrawalId);
        }
        if (record.withdrawnTotal < anchoredWithdrawnTotal) {
            revert AnchorCounterBehind(record.withdrawnTotal, anchoredWithdrawnTotal);
        }
        if (debits.length > MAX_BOND_DEBITS) revert TooManyBondDebits(debits.length, MAX_BOND_DEBITS);
        bytes32 debitsHash = keccak256(abi.encode(debits));
        if (debitsHash != record.bondDebitsHash) revert BondDebitsMismatch(debitsHash, record.bondDebitsHash);
        _requireQuorum(anchorDigest(record), sigs);
        _applyBondDebits(debits);
        uint256 owes = record.totalClaimable + (record.withdrawnTotal - totalWithdrawn)
            + _depositedBetween(record.depositNonce, lastDepositNonce) + totalBonded;
        uint256 balance = token.balanceOf(address(this));
        if (owes > balance) revert AnchorExceedsVault(owes, balance);
        anchorNonce = record.nonce;
        anchoredHeight = record.height;
        anchoredDepositNonce = record.depositNonce;
        anchoredWithdrawalId = record.withdrawalId;
        lastAnchorTime = uint64(block.timestamp);
        balancesRoot = record.balancesRoot;
        totalClaimable = record.totalClaimable;
        anchoredWithdrawnTotal = record.withdrawnTotal;
        emit Anchored(
            record.nonce,
            record.height,
            record.appHash,
            record.balancesRoot,
            record.totalClaimable,
            record.depositNonce,
            record.withdrawalId,
            record.withdrawnTotal
        );
    }

    /// @notice When the vault freezes: `freezePeriod` after the latest anchor arrived.
    function freezesAt() public view returns (uint256) {
        return uint256(lastAnchorTime) + freezePeriod;
    }

    /// @notice Frozen from `freezesAt()` on, whether or not anyone called freeze(). Since no anchor
    /// lands once frozen, the vault never thaws.
    function frozen() public view returns (bool) {
        return block.timestamp >= freezesAt();
    }

    /// @notice Records the freeze (the Frozen event) once it has happened; anyone may call it.
    function freeze() external {
        uint256 freezableAt = freezesAt();
        if (block.timestamp < freezableAt) revert FreezeTooEarly(block.timestamp, freezableAt);
        if (freezeRecorded) revert VaultFrozen();
        freezeRecorded = true;
        emit Frozen(anchorNonce, balancesRoot, totalClaimable);
    }

    /// @notice What the vault still owes, by way out: anchored claims not yet exited, anchored
    /// withdrawals not yet paid, deposits the latest anchor does not include, not reclaimed, and
    /// bonds neither forfeited nor reclaimed. Every anchor is refused unless the vault holds their
    /// sum, and every payment lowers one of them by at least what it pays (a forfeiture lowers
    /// `bonds` by the whole bond and pays only the reporter's share), so the vault's balance never
    /// falls below it. The insurance pool is in none of them.
    function owed() public view returns (uint256 claims, uint256 withdrawals, uint256 deposits, uint256 bonds) {
        claims = totalClaimable - totalExited;
        withdrawals = anchoredWithdrawnTotal - totalWithdrawn;
        deposits = _depositedBetween(anchoredDepositNonce, lastDepositNonce) - totalReclaimed;
        bonds = totalBonded;
    }

    /// @notice Deposit `depositNonce`'s depositor (zero once reclaimed or never issued) and amount;
    /// a bond's nonce reads (bonder, 0): its money is in bondOf, not in the deposits.
    function depositOf(uint64 depositNonce) external view returns (address sender, uint256 amount) {
        if (depositNonce == 0 || depositNonce > lastDepositNonce) return (address(0), 0);
        sender = _deposits[depositNonce].sender;
        amount = _depositedBetween(depositNonce - 1, depositNonce);
    }

    /// @notice Pays the caller its anchored claimable `amount`, once, given the Merkle proof of
    /// the leaf keccak256(keccak256(abi.encode(caller, amount))) under `balancesRoot`.
    function exit(uint256 amount, bytes32[] calldata proof) external nonReentrant {
        if (!frozen()) revert NotFrozen();
        if (exited[msg.sender]) revert AlreadyExited(msg.sender);
        if (amount == 0) revert ZeroAmount();
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(msg.sender, amount))));
        if (!MerkleProof.verifyCalldata(proof, balancesRoot, leaf)) revert InvalidProof();
        uint256 remaining = totalClaimable - totalExited;
        if (amount > remaining) revert ExceedsAnchoredTotal(amount, remaining);
        exited[msg.sender] = true;
        totalExited += amount;
        _pay(msg.sender, amount);
        emit Exited(msg.sender, amount);
    }

    /// @notice Returns deposit `depositNonce` to its depositor, once, when the last anchor did
    /// not include it (its nonce is above the anchored one). A bond's nonce is refused: bonds
    /// leave by reclaimBond().
    function reclaim(uint64 depositNonce) external nonReentrant {
        if (!frozen()) revert NotFrozen();
        if (depositNonce <= anchoredDepositNonce) revert DepositAnchored(depositNonce, anchoredDepositNonce);
        address sender = _deposits[depositNonce].sender; // zero for a nonce never issued
        if (sender == address(0)) revert NothingToReclaim(depositNonce);
        uint256 amount = _depositedBetween(depositNonce - 1, depositNonce);
        if (amount == 0) revert BondNotReclaimable(depositNonce);
        if (sender != msg.sender) revert NotDepositor(depositNonce, sender);
        _deposits[depositNonce].sender = address(0);
        totalReclaimed += amount;
        _pay(msg.sender, amount);
        emit Reclaimed(depositNonce, msg.sender, amount);
    }

    // ------------------------------------------------------------ validator sets

    /// @notice Replaces the validator set, given signatures of more than 2/3 of the CURRENT power
    /// over `valsetDigest(newValidators, newPowers, newNonce)`; the nonce must grow. A forfeited
    /// key in the new set is left out (the chain does not know of the forfeiture yet), so the set
    /// kept may be smaller than the one signed, or empty (see _removeValidator).
    function updateValset(
        address[] calldata newValidators,
        uint256[] calldata newPowers,
        uint64 newNonce,
        Signature[] calldata sigs
    ) external nonReentrant {
        if (newNonce <= valsetNonce) revert StaleValsetNonce(newNonce, valsetNonce);
        _checkValset(newValidators, newPowers);
        _requireQuorum(valsetDigest(newValidators, newPowers, newNonce), sigs);
        _setValset(newValidators, newPowers, newNonce);
    }

    /// @notice The current set, in increasing address order, with its powers.
    function currentValset() public view returns (address[] memory validators, uint256[] memory powers) {
        validators = _validators;
        powers = new uint256[](validators.length);
        for (uint256 i; i < validators.length; ++i) {
            powers[i] = powerOf[validators[i]];
        }
    }

    // ------------------------------------------------------------------- digests

    /// @notice EIP-712 domain {name "perpchain-vault", version "1", chainId, this vault}; computed
    /// from the live chain id so a signature never carries over to a fork.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice The digest validators sign to release a withdrawal.
    function withdrawalDigest(uint64 withdrawalId, address recipient, uint256 amount) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(WITHDRAWAL_TYPEHASH, withdrawalId, recipient, amount));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @notice The digest the current set signs to hand over to (validators, powers, nonce).
    function valsetDigest(address[] memory validators, uint256[] memory powers, uint64 nonce)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), _valsetStructHash(validators, powers, nonce)));
    }

    /// @notice The digest validators sign for an anchor (EIP-712, string members hashed).
    function anchorDigest(AnchorRecord calldata record) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                ANCHOR_TYPEHASH,
                record.nonce,
                keccak256(bytes(record.chainId)),
                record.height,
                record.appHash,
                record.balancesRoot,
                record.totalClaimable,
                record.depositNonce,
                record.withdrawalId,
                record.withdrawnTotal,
                record.bondDebitsHash
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    // ------------------------------------------------------------------ internal

    /// @dev The one way tokens leave (withdraw, exit, reclaim): never more than the vault holds.
    /// Callers have already lowered their term of `owed()` by `amount`.
    function _pay(address to, uint256 amount) private {
        uint256 balance = token.balanceOf(address(this));
        if (amount > balance) revert InsufficientVaultBalance(balance, amount);
        token.safeTransfer(to, amount);
    }

    /// @dev The fraud proof's rule, given the two digests a key signed for the same nonce: they
    /// differ, both signatures recover (vault rules) to one key, not punished before, holding a
    /// bond or power. Checks, effects (bond to the insurance pool less the reporter's share, vote
    /// removed), then the one interaction: paying the reporter.
    function _forfeit(bytes32 digestA, Signature calldata sa, bytes32 digestB, Signature calldata sb) private {
        if (digestA == digestB) revert NotConflicting(digestA);
        address signer = _recover(digestA, sa, 0);
        address signerB = _recover(digestB, sb, 1);
        if (signer != signerB) revert DifferentSigners(signer, signerB);
        if (forfeited[signer]) revert AlreadyForfeited(signer);
        uint256 amount = bondOf[signer];
        uint256 power = powerOf[signer];
        if (amount == 0 && power == 0) revert NothingToForfeit(signer);
        uint256 share = amount * REPORTER_SHARE_BPS / 10_000;
        forfeited[signer] = true;
        bondOf[signer] = 0;
        totalBonded -= amount;
        insurancePool += amount - share;
        if (power != 0) _removeValidator(signer, power);
        emit BondForfeited(signer, msg.sender, amount, share, power);
        if (share != 0) _pay(msg.sender, share);
    }

    /// @dev Takes `signer` (holding `power`) out of the current set, keeping the list's order, the
    /// total and the checkpoint (same nonce) true to what is left. The quorum is then more than 2/3
    /// of the remaining power. The set may become empty (a sole validator caught cheating): punishing
    /// it matters more than keeping a cheater's vote, and with no power left no anchor, withdrawal
    /// or hand-over can pass, so the vault freezes after `freezePeriod` and users leave by exit
    /// and reclaim against the last anchor.
    function _removeValidator(address signer, uint256 power) private {
        delete powerOf[signer];
        totalPower -= power;
        address[] storage current = _validators;
        uint256 last = current.length - 1;
        uint256 i;
        while (current[i] != signer) ++i;
        for (; i < last; ++i) {
            current[i] = current[i + 1];
        }
        current.pop();
        (address[] memory validators, uint256[] memory powers) = currentValset();
        valsetCheckpoint = _valsetStructHash(validators, powers, valsetNonce);
    }

    /// @dev Each key's debit since the last anchor leaves its bond and totalBonded: the chain moved
    /// that bond money into its own ledger (its insurance fund), so the vault owes it as a claim once
    /// anchored, no longer as a bond. Only what the bond still holds is taken (a forfeited key holds
    /// nothing; not an error). A debit total below the one kept is a counter going backwards.
    function _applyBondDebits(BondDebit[] calldata debits) private {
        address previous;
        for (uint256 i; i < debits.length; ++i) {
            address signer = debits[i].signer;
            if (signer <= previous) revert UnsortedBondDebit(i, signer);
            previous = signer;
            uint256 total = debits[i].debitedTotal;
            uint256 before = debitedOf[signer];
            if (total < before) revert AnchorCounterBehind(total, before);
            if (total == before) continue;
            uint256 held = bondOf[signer];
            uint256 applied = total - before < held ? total - before : held;
            debitedOf[signer] = total;
            bondOf[signer] = held - applied;
            totalBonded -= applied;
            emit BondDebited(signer, total - before, applied, total);
        }
    }

    /// @dev The sum of deposits `after + 1` through `through` (nonces; `after` <= `through`).
    function _depositedBetween(uint64 after_, uint64 through) private view returns (uint256) {
        return uint256(_deposits[through].depositedThrough) - _deposits[after_].depositedThrough;
    }

    /// @dev EIP-712 hashStruct(Valset): arrays are encoded as keccak256 of their 32-byte-padded
    /// elements, which is what abi.encodePacked produces for arrays.
    function _valsetStructHash(address[] memory validators, uint256[] memory powers, uint64 nonce)
        private
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                VALSET_TYPEHASH, keccak256(abi.encodePacked(validators)), keccak256(abi.encodePacked(powers)), nonce
            )
        );
    }

    /// @dev Reverts unless the signatures come from distinct current validators (enforced by
    /// strictly increasing addresses) whose power exceeds 2/3 of the total.
    function _requireQuorum(bytes32 digest, Signature[] calldata sigs) private view {
        uint256 signedPower;
        address previous;
        for (uint256 i; i < sigs.length; ++i) {
            address signer = _recover(digest, sigs[i], i);
            uint256 power = powerOf[signer];
            if (power == 0) revert UnknownSigner(i, signer);
            if (signer <= previous) revert DuplicateOrUnsortedSigner(i, signer);
            previous = signer;
            signedPower += power;
        }
        uint256 total = totalPower;
        if (signedPower * 3 <= total * 2) revert InsufficientPower(signedPower, total);
    }

    function _recover(bytes32 digest, Signature calldata sig, uint256 index) private pure returns (address signer) {
        if (sig.v != 27 && sig.v != 28) revert InvalidV(index, sig.v);
        if (uint256(sig.s) > _HALF_N) revert HighS(index);
        signer = ecrecover(digest, sig.v, sig.r, sig.s);
        if (signer == address(0)) revert BadSignature(index);
    }

    /// @dev A set is non-empty, bounded, with equal lengths, strictly increasing addresses (so no
    /// duplicate and no zero address) and positive powers whose total fits MAX_TOTAL_POWER.
    function _checkValset(address[] memory validators, uint256[] memory powers) private pure {
        uint256 total;
        if (validators.length == 0) revert EmptyValset();
        if (validators.length > MAX_VALIDATORS) revert TooManyValidators(validators.length, MAX_VALIDATORS);
        if (validators.length != powers.length) revert ValsetLengthMismatch(validators.length, powers.length);
        address previous;
        for (uint256 i; i < validators.length; ++i) {
            if (validators[i] <= previous) revert UnsortedValidator(i, validators[i]);
            if (powers[i] == 0) revert ZeroPower(i);
            previous = validators[i];
            total += powers[i];
            if (total > MAX_TOTAL_POWER) revert TotalPowerTooLarge(total);
        }
    }

    /// @dev Writes a set already checked by _checkValset, leaving out forfeited keys.
    function _setValset(address[] memory validators, uint256[] memory powers, uint64 nonce) private {
        address[] storage current = _validators;
        uint256 oldLength = current.length;
        for (uint256 i; i < oldLength; ++i) {
            delete powerOf[current[i]];
        }
        // Overwrite the list in place, then trim or extend it: cheaper than delete + push.
        uint256 kept;
        uint256 total;
        for (uint256 i; i < validators.length; ++i) {
            address validator = validators[i];
            if (forfeited[validator]) continue;
            powerOf[validator] = powers[i];
            total += powers[i];
            if (kept < oldLength) current[kept] = validator;
            else current.push(validator);
            ++kept;
        }
        for (uint256 i = kept; i < oldLength; ++i) {
            current.pop();
        }
        totalPower = total;
        valsetNonce = nonce;
        if (kept < validators.length) (validators, powers) = currentValset();
        bytes32 checkpoint = _valsetStructHash(validators, powers, nonce);
        valsetCheckpoint = checkpoint;
        emit ValsetUpdated(nonce, checkpoint, validators, powers);
    }
}
