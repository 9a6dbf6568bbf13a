// Compiles the bridge's Solidity sources with solc-js (the npm `solc` package pinned in
// package-lock.json) and writes one JSON artifact per contract: {contractName, sourceName, abi,
// bytecode, deployedBytecode, compiler, settings}.
//
//   node bridge/compile.mjs OUT_DIR SOURCE.sol...      (paths relative to the repository root)
//
// Imports starting with "@" resolve into node_modules (OpenZeppelin). Exits non-zero on any
// compiler error; warnings go to stderr.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");

export const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function findImport(importPath) {
  const candidates = importPath.startsWith("@")
    ? [path.join("node_modules", importPath)]
    : [importPath];
  for (const file of candidates) {
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `import not found: ${importPath}` };
}

function main() {
  const [outDir, ...files] = process.argv.slice(2);
  if (!outDir || files.length === 0) {
    console.error("usage: node bridge/compile.mjs OUT_DIR SOURCE.sol...");
    process.exit(2);
  }
  const sources = {};
  for (const file of files) sources[file] = { content: fs.readFileSync(file, "utf8") };
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));

  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) {
    if (e.severity !== "error") console.error(e.formattedMessage);
  }
  if (errors.length > 0) {
    for (const e of errors) console.error(e.formattedMessage);
    process.exit(1);
  }

  fs.mkdirSync(outDir, { recursive: true });
  for (const file of files) {
    for (const [name, contract] of Object.entries(output.contracts[file] || {})) {
      const artifact = {
        contractName: name,
        sourceName: file,
        abi: contract.abi,
        bytecode: "0x" + contract.evm.bytecode.object,
        deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
        compiler: solc.version(),
        settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion },
      };
      fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 1) + "\n");
    }
  }
}

main();
