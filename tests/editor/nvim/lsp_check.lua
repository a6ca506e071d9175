-- Headless Neovim (0.7+) as a second real LSP client of `kvcal lsp`.
-- Opens a config, waits for the published diagnostics, hovers a field, asks for completion,
-- types a mistake (an incremental didChange from Neovim's own sync) and waits for the new
-- diagnostics. Writes what it saw as JSON to $KVCAL_NVIM_OUT; exits non-zero on failure.
-- Environment: KVCAL_NVIM_CMD (JSON list: the server command), KVCAL_NVIM_FILE (the config),
-- KVCAL_NVIM_OUT (result file), KVCAL_NVIM_HOVER ("line,character" 0-based).
local out_path = os.getenv('KVCAL_NVIM_OUT')
local result = { events = {} }

local function finish(ok, message)
  result.ok = ok
  result.message = message
  local fh = io.open(out_path, 'w')
  fh:write(vim.fn.json_encode(result))
  fh:close()
  io.stdout:write((ok and 'ok: ' or 'FAILED: ') .. (message or '') .. '\n')
  vim.cmd(ok and 'qall!' or 'cquit! 1')
end

local ok, err = pcall(function()
  local cmd = vim.fn.json_decode(os.getenv('KVCAL_NVIM_CMD'))
  local file = os.getenv('KVCAL_NVIM_FILE')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  local published = {}

  local client_id = vim.lsp.start_client({
    name = 'kvcal',
    cmd = cmd,
    root_dir = vim.fn.fnamemodify(file, ':p:h'),
    settings = { kvcal = { inlayHints = true } },
    flags = { debounce_text_changes = 0 },
    handlers = {
      ['textDocument/publishDiagnostics'] = function(_, params, ctx, config)
        table.insert(published, params)
        vim.lsp.diagnostic.on_publish_diagnostics(_, params, ctx, config)
      end,
    },
  })
  assert(client_id, 'vim.lsp.start_client failed')
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)

  local function wait_diagnostics(version)
    local found = nil
    vim.wait(15000, function()
      for i = #published, 1, -1 do
        local p = published[i]
        if version == nil or p.version == version then
          found = p
          return true
        end
      end
      return false
    end, 10)
    return found
  end

  local first = wait_diagnostics(nil)
  assert(first, 'no textDocument/publishDiagnostics within 15 s')
  result.first = first

  local line, character = os.getenv('KVCAL_NVIM_HOVER'):match('(%d+),(%d+)')
  local uri = vim.uri_from_bufnr(bufnr)
  local hover = client.request_sync('textDocument/hover', {
    textDocument = { uri = uri },
    position = { line = tonumber(line), character = tonumber(character) },
  }, 10000, bufnr)
  assert(hover and hover.result, 'no hover result: ' .. vim.inspect(hover))
  result.hover = hover.result.contents.value

  local completion = client.request_sync('textDocument/completion', {
    textDocument = { uri = uri },
    position = { line = 0, character = 0 },
  }, 10000, bufnr)
  assert(completion and completion.result, 'no completion result')
  local labels = {}
  for _, item in ipairs(completion.result.items or completion.result) do
    table.insert(labels, item.label)
  end
  result.completion = labels

  -- Type a misspelled field at the end of the buffer: Neovim sends an incremental change.
  local last = vim.api.nvim_buf_line_count(bufnr)
  vim.api.nvim_buf_set_lines(bufnr, last, last, false, { 'activation_ofset: false' })
  local version = vim.lsp.util.buf_versions[bufnr]
  local after = wait_diagnostics(version)
  assert(after, 'no diagnostics for version ' .. tostring(version))
  result.after = after
  result.after_version = version
  result.text = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n') .. '\n'

  vim.lsp.stop_client(client_id)
end)

if ok then
  finish(true, 'diagnostics, hover, completion and an incremental edit')
else
  finish(false, tostring(err))
end
