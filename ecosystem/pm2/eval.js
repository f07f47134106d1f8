// Evaluates a PM2 ecosystem file for eco import and writes {"value": ...} or {"error": ...} as
// JSON to fd 3. argv: mode ("module" or "expr"), absolute path.
'use strict';
const fs = require('fs');
const url = require('url');
const [mode, file] = process.argv.slice(1);
const dropped = [];

function clean(v, p, seen) {
  if (v === null) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isFinite(v)) { dropped.push((p || 'module.exports') + ': ' + v + ' is not a number a config can hold'); return undefined; }
      return v;
    case 'bigint':
      return v.toString();
    case 'undefined':
      return undefined;
    case 'function':
      dropped.push((p || 'module.exports') + ': a JavaScript function (' + (v.name || 'anonymous') + '), which an ecosystem file cannot hold');
      return undefined;
    case 'symbol':
      dropped.push((p || 'module.exports') + ': a JavaScript symbol');
      return undefined;
  }
  if (v instanceof RegExp) { dropped.push((p || 'module.exports') + ': the regular expression ' + v + ', written as its source text'); return v.source; }
  if (v instanceof Date) return v.toISOString();
  if (seen.has(v)) { dropped.push((p || 'module.exports') + ': refers to itself'); return undefined; }
  seen.add(v);
  let r;
  if (Array.isArray(v)) {
    r = v.map((e, i) => { const c = clean(e, p + '[' + i + ']', seen); return c === undefined ? null : c; });
  } else {
    r = {};
    for (const k of Object.keys(v)) {
      const c = clean(v[k], p ? p + '.' + k : k, seen);
      if (c !== undefined) r[k] = c;
    }
  }
  seen.delete(v);
  return r;
}

function done(obj) {
  fs.writeSync(3, JSON.stringify(obj));
  fs.closeSync(3);
}

function describe(e) {
  if (e && e.stack) {
    // The first lines of the stack name the file, line and column of the problem.
    return String(e.stack).split('\n').slice(0, 6).join('\n');
  }
  return String(e);
}

async function main() {
  let v;
  if (mode === 'expr') {
    const vm = require('vm');
    v = vm.runInThisContext('(' + fs.readFileSync(file, 'utf8') + '\n)', { filename: file });
  } else {
    try {
      v = require(file);
    } catch (e) {
      if (!e || (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE')) throw e;
      const ns = await import(url.pathToFileURL(file).href);
      v = ns.default !== undefined ? ns.default : ns;
    }
    // An ES module required by a node that can: its namespace, with the export in default.
    if (v && typeof v === 'object' && (v.__esModule || v[Symbol.toStringTag] === 'Module') && v.default !== undefined) {
      v = v.default;
    }
  }
  const c = clean(v, '', new Set());
  done({ value: c === undefined ? null : c, dropped: [...new Set(dropped)] });
}

main().then(
  () => process.exit(0),
  (e) => { try { done({ error: describe(e) }); } finally { process.exit(3); } },
);
