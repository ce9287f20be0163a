virsh vol-info @LOOP_GPT@p2 --pool diskgpt
