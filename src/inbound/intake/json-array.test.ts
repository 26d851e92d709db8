import { describe, expect, it } from "vitest";
import { splitJsonArray } from "./json-array.js";

describe("splitJsonArray", () => {
  it("cuts each element's text out exactly, strings, escapes and nesting included", () => {
    const items = ['{"update_id":1,"message":{"text":"a, [b] {c}"}}', '{"no_id":1e400}', '"x\\",y"', "[1,[2,3]]", "null", "-5"];
    const text = ` [ ${items.join(" ,\n")} ] `;
    expect(splitJsonArray(text)).toEqual(items);
    expect(JSON.parse(text)).toHaveLength(items.length);
  });

  it("an empty array has no elements; a non-array is not split", () => {
    expect(splitJsonArray("[]")).toEqual([]);
    expect(splitJsonArray(" [ ] ")).toEqual([]);
    expect(splitJsonArray('{"a":[1]}')).toBeUndefined();
  });
});
