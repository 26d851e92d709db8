/**
 * A lenient multipart/form-data parser. Telegram's server accepts what grammY sends
 * (`content-disposition:form-data;name="x";filename=photo.jpg`: no spaces, unquoted file
 * names), which the platform's strict FormData parser rejects, so the emulator parses parts
 * itself: as leniently as Telegram, and never past the buffer.
 */
import { badRequest } from "../api-error.js";
import type { RawParams, UploadedFile } from "../params.js";

/** Parses a multipart body; `contentType` carries the boundary. */
export function parseMultipart(contentType: string, body: Buffer): RawParams {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined) throw badRequest("multipart/form-data without a boundary");
  const delimiter = Buffer.from(`--${boundary}`);
  const params: RawParams = {};
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw badRequest("can't parse multipart/form-data body");
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // "--": the closing delimiter
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    if (headerEnd < 0) throw badRequest("can't parse multipart/form-data body");
    const headers = body.subarray(pos, headerEnd).toString("utf8");
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd + 4);
    if (next < 0) throw badRequest("can't parse multipart/form-data body: missing closing boundary");
    const content = body.subarray(headerEnd + 4, next);
    const name = headerParam(headers, "name");
    if (name === undefined) throw badRequest("can't parse multipart/form-data body: a part has no name");
    const filename = headerParam(headers, "filename");
    if (filename === undefined) {
      params[name] = content.toString("utf8");
    } else {
      const mime = /content-type:\s*([^\r\n;]+)/i.exec(headers)?.[1]?.trim();
      const file: UploadedFile = { name: filename, mimeType: mime, bytes: new Uint8Array(content) };
      params[name] = file;
    }
    pos = next + 2;
  }
  return params;
}

/** A parameter of the Content-Disposition header, quoted or not. */
function headerParam(headers: string, key: string): string | undefined {
  const re = new RegExp(`(?:^|[;\\s])${key}=(?:"([^"]*)"|([^;\\r\\n]*))`, "i");
  const m = re.exec(headers);
  if (m === null) return undefined;
  return (m[1] ?? m[2] ?? "").trim();
}
