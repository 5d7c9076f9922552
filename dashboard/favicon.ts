/**
 * The dashboard's icon, inline so that the page stays one self-contained
 * server with nothing to fetch from elsewhere: a file grid, mostly copied
 * (green), one in flight (blue), one failed (red), as the page draws them.
 */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="6" fill="#263238"/>
<g fill="#43a047"><rect x="5" y="5" width="6" height="6" rx="1"/><rect x="13" y="5" width="6" height="6" rx="1"/><rect x="21" y="5" width="6" height="6" rx="1"/>
<rect x="5" y="13" width="6" height="6" rx="1"/><rect x="13" y="13" width="6" height="6" rx="1"/><rect x="5" y="21" width="6" height="6" rx="1"/></g>
<rect x="21" y="13" width="6" height="6" rx="1" fill="#42a5f5"/><rect x="13" y="21" width="6" height="6" rx="1" fill="#e53935"/>
<rect x="21" y="21" width="6" height="6" rx="1" fill="#90a4ae" fill-opacity=".5"/>
</svg>
`;
