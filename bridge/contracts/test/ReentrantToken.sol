// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken (tests only)
/// @notice A hostile ERC-20: once armed, every transfer and transferFrom first calls the vault
/// back with the stored calldata and records how that call ended, then moves tokens as usual.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public reentryCalldata;
    uint256 public reentryAttempts;
    bool public lastReentrySucceeded;
    bytes public lastReentryReturn;

    constructor() ERC20("Reentrant", "BAD") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the callback: the next transfers call `target_` with `data` first.
    function arm(address target_, bytes calldata data) external {
        target = target_;
        reentryCalldata = data;
    }

    function transfer(address to, uint256 amount) public override returns (bool) {
        _reenter();
        return super.transfer(to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) public override returns (bool) {
        _reenter();
        return super.transferFrom(from, to, amount);
    }

    function _reenter() private {
        if (target == address(0)) return;
        reentryAttempts += 1;
        (bool ok, bytes memory ret) = target.call(reentryCalldata);
        lastReentrySucceeded = ok;
        lastReentryReturn = ret;
    }
}
