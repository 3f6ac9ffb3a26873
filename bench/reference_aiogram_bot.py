"""The reference: a plain aiogram 3 webhook bot with an in-memory FSM form, as the aiogram
documentation builds one. It is what a small hotline would write first, so Lifeline's webhook
is compared with it.

* aiohttp server, aiogram's ``SimpleRequestHandler`` with its defaults: the webhook answers
  ``200`` at once and the update is handled in a background task (``handle_in_background``);
  the secret-token header is checked.
* ``MemoryStorage``: the form's state lives in this process's memory, so the bot runs as ONE
  process (a second one would not see the first one's states) and a restart loses every
  conversation in progress — which is what Lifeline's durable inbox is for.
* Each message is answered by calling the Bot API (``sendMessage``) — here a fake one on
  127.0.0.1 (``bench/fake_bot_api.py``).

    python -m bench.reference_aiogram_bot --port 8090 --api http://127.0.0.1:8081 --secret S
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

WEBHOOK_PATH = "/telegram/webhook/"
TOKEN = "123456:BENCH-reference-bot-token"  # noqa: S105 - talks to the fake Bot API only

router = Router()


class Form(StatesGroup):
    who = State()
    status = State()
    name = State()
    birth_date = State()
    service_number = State()


QUESTIONS = {
    Form.who: "Кто вы? 1 — военнослужащий, 2 — родственник",
    Form.status: "Как вы попали на службу?",
    Form.name: "Напишите фамилию, имя и отчество",
    Form.birth_date: "Дата рождения (ДД.ММ.ГГГГ)?",
    Form.service_number: "Ваш личный номер?",
}
ORDER = list(QUESTIONS)


@router.message(CommandStart())
async def start(message: Message, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(Form.who)
    await message.answer(QUESTIONS[Form.who])


@router.message(F.text, Form.who)
@router.message(F.text, Form.status)
@router.message(F.text, Form.name)
@router.message(F.text, Form.birth_date)
async def next_question(message: Message, state: FSMContext) -> None:
    current = await state.get_state()
    step = next(i for i, s in enumerate(ORDER) if s.state == current)
    await state.update_data({str(ORDER[step].state): message.text})
    following = ORDER[step + 1]
    await state.set_state(following)
    await message.answer(QUESTIONS[following])


@router.message(F.text, Form.service_number)
async def done(message: Message, state: FSMContext) -> None:
    await state.update_data({str(Form.service_number.state): message.text})
    await state.clear()
    await message.answer("Спасибо, заявка принята. Оператор свяжется с вами.")


@router.message()
async def anything_else(message: Message) -> None:
    await message.answer("Чтобы начать, отправьте /start")


async def serve(port: int, api: str, secret: str) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api))
    bot = Bot(token=TOKEN, session=session)
    dispatcher = Dispatcher(storage=MemoryStorage())
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret).register(
        app, path=WEBHOOK_PATH
    )
    setup_application(app, dispatcher, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="Bot API base, e.g. http://127.0.0.1:8081")
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.api, args.secret))


if __name__ == "__main__":
    main()
