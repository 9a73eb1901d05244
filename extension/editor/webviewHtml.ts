import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';

/**
 * The webview's only HTML: strict CSP, scripts by nonce, assets through asWebviewUri. The controls
 * (@vscode-elements, Lit) style themselves with constructed stylesheets, which `style-src` does not govern, so no
 * 'unsafe-inline' is needed; element.style assignments from script are likewise allowed.
 */
export function renderWebviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (...path: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...path)).toString();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('media', 'weightscope.css')}">
<title>Weightscope</title>
</head>
<body>
<main id="app" data-view="loading"></main>
<script nonce="${nonce}" src="${asset('dist', 'webview.js')}"></script>
</body>
</html>`;
}
