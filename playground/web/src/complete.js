// Config completion from postwire's JSON Schema: the keys allowed where the cursor is (found by
// walking the YAML block structure above it by indentation) and, after `key: `, the values an
// enum or a boolean allows. Descriptions come from the schema.

/// Follow `$ref`s and merge `allOf`/`anyOf`/`oneOf` branches into one view of a schema node.
function resolve(root, node, depth = 0) {
  if (!node || depth > 20) return {};
  if (node.$ref) {
    const path = node.$ref.replace(/^#\//, "").split("/");
    return resolve(root, path.reduce((n, k) => n?.[k], root), depth + 1);
  }
  const branches = [...(node.allOf ?? []), ...(node.anyOf ?? []), ...(node.oneOf ?? [])];
  if (!branches.length) return node;
  const merged = { ...node, properties: { ...(node.properties ?? {}) } };
  for (const b of branches) {
    const r = resolve(root, b, depth + 1);
    Object.assign(merged.properties, r.properties ?? {});
    if (r.items && !merged.items) merged.items = r.items;
    if (r.enum) merged.enum = [...(merged.enum ?? []), ...r.enum];
    if (r.const !== undefined) merged.enum = [...(merged.enum ?? []), r.const];
    if (r.type && !merged.type) merged.type = r.type;
    if (r.additionalProperties && !merged.additionalProperties) merged.additionalProperties = r.additionalProperties;
  }
  return merged;
}

/// The chain of keys (and `[]` for sequence items) leading to `lineNo`'s indentation `indent`.
function pathAt(doc, lineNo, indent) {
  const path = [];
  let want = indent;
  for (let n = lineNo - 1; n >= 1 && want > 0; n--) {
    const line = doc.line(n).text;
    if (!line.trim() || line.trim().startsWith("#")) continue;
    const ind = line.length - line.trimStart().length;
    const dash = line.trimStart().match(/^-\s+/);
    const itemIndent = dash ? ind + dash[0].length : -1;
    if (dash && itemIndent <= want && itemIndent >= 0 && ind < want) {
      // `- key: value` items: the keys after the dash are siblings of the cursor's key.
      path.unshift("[]");
      const key = line.trimStart().slice(dash[0].length).match(/^([\w.\-/]+):/);
      if (key && itemIndent < want) path.unshift("[]"), path.shift();
      want = ind;
      continue;
    }
    if (ind < want) {
      const key = line.trimStart().match(/^([\w.\-/"']+):/);
      if (key) path.unshift(key[1].replace(/["']/g, ""));
      want = ind;
    }
  }
  return path;
}

function nodeAt(schema, path) {
  let node = resolve(schema, schema);
  for (const step of path) {
    if (step === "[]") node = resolve(schema, node.items);
    else node = resolve(schema, node.properties?.[step] ?? (typeof node.additionalProperties === "object" ? node.additionalProperties : {}));
  }
  return node;
}

export function schemaCompletion(schema) {
  return (context) => {
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    const value = before.match(/^(\s*(?:-\s+)?)([\w.\-/]+):\s+(\S*)$/);
    if (value) {
      const indent = value[1].length;
      const node = nodeAt(schema, [...pathAt(context.state.doc, line.number, indent), value[2]]);
      const types = [].concat(node.type ?? []);
      const options = [...(node.enum ?? []), ...(types.includes("boolean") ? [true, false] : [])];
      if (!options.length) return null;
      return {
        from: context.pos - value[3].length,
        options: [...new Set(options)].map((v) => ({ label: String(v), type: "enum", info: node.description })),
      };
    }
    const key = before.match(/^(\s*(?:-\s+)?)([\w.\-/]*)$/);
    if (!key || (!context.explicit && !key[2])) return null;
    const indent = key[1].length;
    const node = nodeAt(schema, pathAt(context.state.doc, line.number, indent));
    const props = Object.entries(node.properties ?? {});
    if (!props.length) return null;
    return {
      from: context.pos - key[2].length,
      options: props.map(([name, p]) => {
        const r = resolve(schema, p);
        return { label: name, type: "property", apply: name + ": ", info: r.description ?? p.description, detail: [].concat(r.type ?? []).join("|") };
      }),
      validFor: /^[\w.\-/]*$/,
    };
  };
}
