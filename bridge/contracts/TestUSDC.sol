// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestUSDC
/// @notice A USDC stand-in for localnets and tests: 6 decimals, minted freely by its owner.
/// @dev Never deploy this where the token has value; the real vault takes the real USDC address.
contract TestUSDC is ERC20, Ownable {
    constructor() ERC20("Test USDC", "USDC") Ownable(msg.sender) {}

    /// @notice USDC counts in micro-units: 1 USDC = 1_000_000.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Creates `amount` micro-USDC for `to`; owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
